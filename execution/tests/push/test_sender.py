"""The publishing thread sends what is waiting together, each deployment's events in order."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import channel_layers

from execution.push import sender
from execution.tests.push.conftest import TIMEOUT


@pytest.mark.usefixtures("push_layer")
def test_a_burst_over_many_deployments_arrives_whole_and_in_order_per_deployment(settings):
    """A step commits a chunk of deployments at once: hundreds of events queue together and
    leave in batches, several groups side by side; no event is lost or overtakes another of
    its deployment."""
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "PUBLISH_BATCH": 50, "PUBLISH_CONCURRENCY": 4}
    groups = [f"live.deployment.{pk}" for pk in range(9001, 9013)]
    per_group = 25

    async def run() -> dict[str, list[int]]:
        layer = channel_layers.make_backend("default")
        channels = {}
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])
        await asyncio.sleep(0.2)  # the subscriptions are in place before the first publish
        for n in range(per_group):  # interleaved, as a chunk's commit queues them
            for group in groups:
                message = {"type": "live.event", "event": {"n": n}}
                await asyncio.to_thread(sender.sender.submit, group, message)
        got: dict[str, list[int]] = {}
        for group, channel in channels.items():
            got[group] = [
                (await asyncio.wait_for(layer.receive(channel), TIMEOUT))["event"]["n"]
                for _ in range(per_group)
            ]
        for group, channel in channels.items():
            await layer.group_discard(group, channel)
        if hasattr(layer, "flush"):
            await layer.flush()
        return got

    got = asyncio.run(run())
    assert sender.sender.flush(TIMEOUT)
    assert got == {group: list(range(per_group)) for group in groups}
    assert sender.sender._dropped == 0 and not sender.sender._failing
