"""Keypairs of a user: create (generated or imported), delete, and the
lookup a boot's ``key_name`` needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.persistence import IntegrityError

from commands import keys, x509_keys
from commands.app import CloudApp
from commands.loading import load
from commands.names import claim_of, holder_of, take
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from domain.errors import Conflict, InvalidInput, NotFound
from domain.keypair import KEY_TYPES, Keypair
from domain.values import Actor


@dataclass(frozen=True)
class CreateKeypair:
    user_id: str
    name: str
    public_key: str = ""  # empty: the cloud generates a key pair
    key_type: str = "ssh"


@dataclass(frozen=True)
class CreatedKeypair:
    receipt: Receipt
    private_key: str  # "" for an imported key


def _ssh_key(cmd: CreateKeypair) -> tuple[str, str, str]:
    """(public key, private key or "" if imported, fingerprint)."""
    if cmd.public_key:
        public, private = keys.checked_public_key(cmd.public_key), ""
    else:
        generated = keys.generate()
        public, private = generated.public_key, generated.private_key
    return public, private, keys.fingerprint(public)


def _certificate(cmd: CreateKeypair, now: datetime) -> tuple[str, str, str]:
    """(certificate, private key bundle or "" if imported, fingerprint)."""
    if cmd.public_key:
        public, private = x509_keys.checked_certificate(cmd.public_key), ""
    else:
        generated = x509_keys.generate(cmd.user_id, now)
        public, private = generated.certificate, generated.private_key
    return public, private, x509_keys.fingerprint(public)


def create_keypair(
    cmd: CreateKeypair, app: CloudApp, actor: Actor, now: datetime | None = None
) -> CreatedKeypair:
    Keypair.validate_name(cmd.name)
    if cmd.key_type not in KEY_TYPES:
        raise InvalidInput(f"Keypair type must be one of {', '.join(KEY_TYPES)}")
    if cmd.key_type == "x509":
        public, private, label = _certificate(cmd, now or datetime.now(UTC))
    else:
        public, private, label = _ssh_key(cmd)
    keypair = Keypair(
        user_id=cmd.user_id,
        name=cmd.name,
        key_type=cmd.key_type,
        public_key=public,
        fingerprint=label,
        actor=actor,
    )
    claim = take(app, "keypair", cmd.user_id, cmd.name, keypair.id.hex, "Key pair", actor)
    return CreatedKeypair(Receipt.of(keypair.id, app.save(keypair, claim)), private)


def keypair_named(app: CloudApp, user_id: str, name: str) -> Keypair:
    holder = holder_of(app, "keypair", user_id, name)
    if holder is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return load(app, Keypair, holder, f"Keypair {name}")


def delete_keypair(user_id: str, name: str, app: CloudApp, actor: Actor) -> Receipt:
    keypair = keypair_named(app, user_id, name)
    keypair.delete(actor)
    claim = claim_of(app, "keypair", user_id, name)
    claim.release(keypair.id.hex, actor)
    return Receipt.of(keypair.id, app.save(keypair, claim))


class KeypairCommands:
    """The keypairs' commands of Services."""

    app: CloudApp

    def create_keypair(self, cmd: CreateKeypair, actor: Actor) -> CreatedKeypair:
        try:
            return create_keypair(cmd, self.app, actor)
        except IntegrityError:  # a racing create of the same name
            raise Conflict(f"Key pair '{cmd.name}' already exists.") from None

    def delete_keypair(self, user_id: str, name: str, actor: Actor) -> Receipt:
        return retry_on_conflict(lambda: delete_keypair(user_id, name, self.app, actor))
