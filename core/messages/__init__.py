"""Every message type, importable from ``core.messages``."""

from core.messages import base, commands, data, events, supervision
from core.messages.base import *
from core.messages.commands import *
from core.messages.data import *
from core.messages.events import *
from core.messages.supervision import *

__all__ = [*base.__all__, *data.__all__, *commands.__all__, *events.__all__, *supervision.__all__]
