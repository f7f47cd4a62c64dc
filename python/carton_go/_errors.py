"""Exceptions for carton_status codes (include/carton.h)."""


class CartonError(Exception):
    """A call into carton failed; code is its carton_status."""

    code = 99

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidArgumentError(CartonError, ValueError):
    code = 1


class InvalidInputError(CartonError, ValueError):
    code = 2


class NoRuntimeError(CartonError):
    code = 3


class ChecksumError(CartonError):
    code = 4


class ClosedError(CartonError):
    code = 5


class MalformedError(CartonError, ValueError):
    code = 6


class ModelError(CartonError):
    code = 7


class FrameworkError(CartonError):
    code = 8


class InvalidOptionError(CartonError, ValueError):
    code = 9


class UnknownRunnerError(CartonError):
    code = 10


class PlatformError(CartonError):
    code = 11


class NotFoundError(CartonError, FileNotFoundError):
    code = 12


class OfflineError(CartonError):
    code = 13


class RemoteError(CartonError):
    code = 14


_BY_CODE = {cls.code: cls for cls in [
    InvalidArgumentError, InvalidInputError, NoRuntimeError, ChecksumError, ClosedError, MalformedError, ModelError,
    FrameworkError, InvalidOptionError, UnknownRunnerError, PlatformError, NotFoundError, OfflineError, RemoteError,
]}


def error_for(code, message):
    """The exception for a carton_status and its message."""
    return _BY_CODE.get(code, CartonError)(message, code)
