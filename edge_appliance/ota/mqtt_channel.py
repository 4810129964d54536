"""The job channel over MQTT5 with awsiotsdk's `IotJobsClientV2` (start-next, update, notify-next stream)."""

from __future__ import annotations

import threading
from concurrent.futures import TimeoutError as FutureTimeout

from awscrt import mqtt5, mqtt_request_response
from awsiot import ServiceStreamOptions, V2ServiceException, iotjobs

from contracts.jobs import JobStatusReport
from edge_appliance.ota.channel import JobExecution
from edge_appliance.ota.errors import ChannelError, ReportRefusedError


class MqttJobChannel:
    def __init__(self, client: mqtt5.Client, thing_name: str, timeout_s: float = 10.0) -> None:
        self.thing_name = thing_name
        self.timeout_s = timeout_s
        self.jobs = iotjobs.IotJobsClientV2(client, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=2,
            operation_timeout_in_seconds=max(1, int(timeout_s))))
        self._notified = threading.Event()
        self._stream = self.jobs.create_next_job_execution_changed_stream(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing_name),
            ServiceStreamOptions(incoming_event_listener=lambda event: self._notified.set()))
        self._stream.open()

    def next_job(self, timeout_s: float) -> JobExecution | None:
        job = self._start_next()
        if job is None and self._notified.wait(timeout_s):
            self._notified.clear()
            job = self._start_next()
        return job

    def _start_next(self) -> JobExecution | None:
        response = self._result(self.jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name=self.thing_name)), "start-next")
        execution = response.execution
        if execution is None or execution.job_id is None:
            return None
        return JobExecution(job_id=execution.job_id, document=execution.job_document or {},
                            status=execution.status or "IN_PROGRESS", version_number=execution.version_number,
                            execution_number=execution.execution_number)

    def report(self, report: JobStatusReport) -> None:
        self._result(self.jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
            thing_name=self.thing_name, job_id=report.job_id, status=report.outcome.value,
            status_details=report.status_details())), f"update of job {report.job_id}", ReportRefusedError)

    def _result(self, future, what: str, refused: type[ChannelError] = ChannelError):  # type: ignore[no-untyped-def]
        try:
            return future.result(self.timeout_s + 1)
        except V2ServiceException as exc:
            detail = exc.modeled_error  # set when the service answered on .../rejected
            code = getattr(detail, "code", None)
            kind = refused if detail is not None else ChannelError
            raise kind(f"{what} failed: {code + ': ' if code else ''}"
                       f"{getattr(detail, 'message', None) or exc.message}") from exc
        except FutureTimeout as exc:
            raise ChannelError(f"{what}: no reply within {self.timeout_s:g} s") from exc

    def close(self) -> None:
        """Nothing to release early: the stream and request-response client go with this object, after the caller
        has stopped the MQTT client it owns (`mqtt.disconnect`)."""
