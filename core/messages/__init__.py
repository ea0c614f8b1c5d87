"""Every message type, importable from ``core.messages``."""

from core.messages.base import *  # noqa: F403
from core.messages.commands import *  # noqa: F403
from core.messages.data import *  # noqa: F403
from core.messages.events import *  # noqa: F403
from core.messages.supervision import *  # noqa: F403
from core.messages import base, commands, data, events, supervision

__all__ = [*base.__all__, *data.__all__, *commands.__all__, *events.__all__, *supervision.__all__]
