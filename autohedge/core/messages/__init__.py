"""Every message type, importable from ``core.messages``."""

from autohedge.core.messages import base, commands, data, events, supervision
from autohedge.core.messages.base import *
from autohedge.core.messages.commands import *
from autohedge.core.messages.data import *
from autohedge.core.messages.events import *
from autohedge.core.messages.supervision import *

__all__ = [*base.__all__, *data.__all__, *commands.__all__, *events.__all__, *supervision.__all__]
