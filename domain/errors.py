"""The domain's error tree; the API maps each class to one HTTP status."""


class DomainError(Exception):
    """Base of every rule violation a user can cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request is well-formed but asks for something that cannot exist."""


class NotFound(DomainError):
    """The named thing does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """The request clashes with the current state, e.g. a concurrent change."""


class InvalidTransition(Conflict):
    """The aggregate's state does not allow this action now."""

    def __init__(self, what: str, state: str, action: str) -> None:
        super().__init__(f"Cannot '{action}' {what} while it is in {state}")


class QuotaExceeded(DomainError):
    """A reservation would take the project past one of its limits."""

    def __init__(self, resource: str, requested: int, used: int, limit: int) -> None:
        super().__init__(
            f"Quota exceeded for {resource}: Requested {requested}, "
            f"but already used {used} of {limit} {resource}"
        )
        self.resource = resource


class TooLarge(DomainError):
    """The request asks to store more than a limit allows (Glance's 413)."""


class InsufficientCapacity(DomainError):
    """A compute host cannot take the claim within its allocation ratios."""


class Unauthorized(DomainError):
    """Credentials or token are missing, wrong or expired."""


class Forbidden(DomainError):
    """The caller is authenticated but the policy does not allow the action."""


class InstanceLocked(Conflict):
    """A locked server refuses changes from anyone but admins (Nova's 409)."""
