"""MQTT5 plumbing shared by the device channel and the local jobs emulator (awscrt, which awsiotsdk ships).

`connect` opens a plain-TCP MQTT5 client (a local Mosquitto); in AWS the device uses
`awsiot.mqtt5_client_builder.mtls_from_path` against its IoT endpoint instead and passes that client in.
Incoming publishes are handed to `on_message(topic, payload)` on the CRT's thread: never block there.
Stop a client with `disconnect(client)`: it waits for the CRT's "stopped" event before the Python object may be
freed (freeing it earlier lets the event-loop thread deliver a publish into a freed client: a segfault, seen here).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from awscrt import mqtt5

from edge_appliance.ota.errors import ChannelError

OnMessage = Callable[[str, bytes], None]
_stopped: dict[int, threading.Event] = {}


def connect(host: str, port: int, client_id: str, on_message: OnMessage | None = None,
            timeout_s: float = 10.0) -> mqtt5.Client:
    connected = threading.Event()
    failure: list[str] = []

    def on_publish(data: mqtt5.PublishReceivedData) -> None:
        if on_message is not None:
            packet = data.publish_packet
            on_message(packet.topic, bytes(packet.payload or b""))

    def on_failure(data: mqtt5.LifecycleConnectFailureData) -> None:
        failure.append(str(data.exception))
        connected.set()

    stopped = threading.Event()
    client = mqtt5.Client(mqtt5.ClientOptions(
        host_name=host, port=port, connect_options=mqtt5.ConnectPacket(client_id=client_id, keep_alive_interval_sec=30),
        on_publish_callback_fn=on_publish,
        on_lifecycle_event_connection_success_fn=lambda data: connected.set(),
        on_lifecycle_event_connection_failure_fn=on_failure,
        on_lifecycle_event_stopped_fn=lambda data: stopped.set()))
    _stopped[id(client)] = stopped
    client.start()
    if not connected.wait(timeout_s) or failure:
        disconnect(client)
        raise ChannelError(f"cannot connect to the MQTT broker at {host}:{port}: "
                           f"{failure[0] if failure else 'timed out'}")
    return client


def subscribe(client: mqtt5.Client, topic_filter: str, timeout_s: float = 10.0) -> None:
    future = client.subscribe(mqtt5.SubscribePacket(subscriptions=[
        mqtt5.Subscription(topic_filter=topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)]))
    try:
        future.result(timeout_s)
    except Exception as exc:  # the CRT reports failures as its own exception types
        raise ChannelError(f"cannot subscribe to {topic_filter}: {exc}") from exc


def publish(client: mqtt5.Client, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
    future = client.publish(mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE))
    try:
        future.result(timeout_s)
    except Exception as exc:
        raise ChannelError(f"cannot publish to {topic}: {exc}") from exc


def disconnect(client: mqtt5.Client, timeout_s: float = 10.0) -> None:
    """Stop `client` and wait until the CRT says it stopped (only then may it be freed)."""
    stopped = _stopped.pop(id(client), None)
    client.stop()
    if stopped is not None:
        stopped.wait(timeout_s)
