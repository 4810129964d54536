"""The video-file source (PyAV): decodes every frame in order; a missing or broken file is one clear error."""

import av
import numpy as np
import pytest

from edge_appliance.sources import AvSource, SourceError, SourceFrame, open_source


def write_video(path, frames=12, size=(96, 64)):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_a_video_file_decodes_frame_by_frame(tmp_path):
    path = tmp_path / "bay.mp4"
    write_video(path)
    items = list(open_source(str(path), fps=None).frames())
    assert all(isinstance(i, SourceFrame) for i in items)
    assert [i.frame_id for i in items] == list(range(1, 13))
    assert items[0].image.shape == (64, 96, 3) and items[0].image.dtype == np.uint8
    assert items[5].image.mean() == pytest.approx(100, abs=6)


def test_a_missing_file_is_refused():
    with pytest.raises(SourceError, match="not found"):
        AvSource("/nonexistent/bay.mp4")


def test_a_file_that_is_not_a_video_is_one_clear_error(tmp_path):
    path = tmp_path / "bay.mp4"
    path.write_bytes(b"definitely not a video" * 100)
    with pytest.raises(SourceError, match="cannot open"):
        list(AvSource(str(path), fps=None).frames())


def test_an_unreachable_rtsp_camera_is_one_clear_error():
    with pytest.raises(SourceError, match=r"cannot open rtsp://127\.0\.0\.1:9/"):
        list(AvSource("rtsp://127.0.0.1:9/cam", fps=None, open_timeout_s=2).frames())
