"""The job channel inside a Greengrass v2 component: the IoT Jobs MQTT topics through the nucleus's
connection, via `GreengrassCoreIPCClientV2.publish_to_iot_core` / `subscribe_to_iot_core`.

The component's recipe must allow `aws.greengrass#PublishToIoTCore` and `aws.greengrass#SubscribeToIoTCore`
on `$aws/things/{iot:thingName}/jobs/*`. Tests inject a fake client built on the SDK's real model types.
"""

from __future__ import annotations

from typing import Any

from edge_appliance.ota.channel import Listener, ProtocolJobChannel
from edge_appliance.ota.errors import ChannelError


class GreengrassPubSub:
    def __init__(self, ipc_client: Any) -> None:
        self.ipc = ipc_client
        self._operations: list[Any] = []

    def publish(self, topic: str, payload: bytes) -> None:
        from awsiot.greengrasscoreipc.model import QOS

        try:
            self.ipc.publish_to_iot_core(topic_name=topic, qos=QOS.AT_LEAST_ONCE, payload=payload)
        except Exception as exc:  # the IPC client raises its own error family; all mean "not sent"
            raise ChannelError(f"Greengrass IPC could not publish to {topic}: {exc}") from exc

    def subscribe(self, topic_filter: str, listener: Listener) -> None:
        from awsiot.greengrasscoreipc.model import QOS, IoTCoreMessage

        def on_event(event: IoTCoreMessage) -> None:
            if event.message is not None:
                listener(event.message.topic_name, bytes(event.message.payload or b""))

        try:
            _, operation = self.ipc.subscribe_to_iot_core(topic_name=topic_filter, qos=QOS.AT_LEAST_ONCE,
                                                          on_stream_event=on_event)
        except Exception as exc:
            raise ChannelError(f"Greengrass IPC could not subscribe to {topic_filter}: {exc}") from exc
        self._operations.append(operation)

    def close(self) -> None:
        for operation in self._operations:
            operation.close()
        self._operations.clear()


class GreengrassJobChannel(ProtocolJobChannel):
    def __init__(self, ipc_client: Any, thing_name: str, timeout_s: float = 10.0) -> None:
        self.pubsub = GreengrassPubSub(ipc_client)
        super().__init__(self.pubsub, thing_name, timeout_s)

    @classmethod
    def connect(cls, thing_name: str, timeout_s: float = 10.0) -> GreengrassJobChannel:
        """Inside a running Greengrass component (the nucleus provides the socket and token)."""
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

        return cls(GreengrassCoreIPCClientV2(), thing_name, timeout_s)

    def close(self) -> None:
        self.pubsub.close()
