"""Errors raised while starting, stopping or provisioning the platform's real parts."""

from __future__ import annotations

from streamwise.errors import StreamwiseError


class PlatformError(StreamwiseError):
    """Something the platform runs on (a process, a port, a tool) is not as it must be."""


class PortInUseError(PlatformError):
    """A port streamwise must listen on is already taken."""


class ExposedBindError(PlatformError):
    """A service would listen on an address other machines reach, and nothing protects it."""


class JavaNotFoundError(PlatformError):
    """No usable Java runtime (17 or newer) was found."""


class MavenError(PlatformError):
    """``mvn`` is missing or could not resolve the JVM artefacts."""


class ServiceStartError(PlatformError):
    """A supervised process exited or did not become ready in time."""


class TopicError(PlatformError):
    """A Kafka topic could not be created or described."""


class SecurityError(PlatformError):
    """The secure profile's Kafka users, ACLs or credentials are not as an operation needs them."""


class StorageError(PlatformError):
    """A checkpoint or table location on the data root could not be read or written."""
