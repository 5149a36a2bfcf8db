"""Identity types with known lineages: console sessions, IAM Identity Center, workloads.

:func:`build_identities` writes a small organization trail in which every lineage is known,
among the traps that make key ids lie:

* ``console``: an IAM user's console sign-in whose calls carry many short-lived keys no STS
  response issued; the session cookie is replayed from a second address and browser; the
  console switches role into another account; one of its key ids turns up days later in
  someone else's session (a decoy), and the same user signs in again the next day (a decoy).
* ``identity_center`` / ``identity_center_ben``: two Identity Center users take the same
  permission set in the same second; the key each uses is not the key in the service's
  AssumeRoleWithSAML response; the first walks on into a role of another account.
* ``identity_center_console``: a portal ``Federate`` into the console (ConsoleLogin as the
  assumed role, console keys matched by session ARN and creation date).
* ``lambda`` and ``eks``: a Lambda session chains into a role; two days later an EKS IRSA
  session is issued the same key id (recycled across services) and walks its own chain.
* ``ec2``: an instance profile session whose key id is later used by a session no STS call
  in the logs issued (a decoy, left out with the reason).
* ``github``: GitHub Actions OIDC into a deploy role, chaining into another account.
* ``saml``: an Okta SAML sign-in with a SourceIdentity.
* ``federation``: a GetFederationToken session that outlives its parent key (deleted).

Every lineage lists its seed, its eventIDs (the opening calls included), the decoys that
must stay out, the chain's roles and origin as graphtrail names them.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from random import Random

from graphtrail.synth import records as R

__all__ = ["Lineage", "IdentityTruth", "build_identities"]

A, B, C = "111111111111", "222222222222", "333333333333"
T0 = calendar.timegm((2024, 9, 2, 8, 0, 0))
_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/128.0 Safari/537.36"
_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0"
_CLI = "aws-cli/2.17.20 Python/3.11.9 Darwin/23.6.0 exe/x86_64 prompt/off"
_SDK = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.12.4 exec-env/AWS_Lambda_python3.12"
_GITHUB = "token.actions.githubusercontent.com"
_EKS = "oidc.eks.us-east-1.amazonaws.com/id/5C1A3B7E9D2F4A6B8C0D1E2F3A4B5C6D"


@dataclass
class Lineage:
    """One lineage's known answer."""

    name: str
    seed: str  # what the investigator types: a key id
    event_ids: set[str] = field(default_factory=set)  # every call of the lineage, opening calls too
    decoy_event_ids: set[str] = field(default_factory=set)  # look-alikes that must stay out
    origin: str | None = None  # the chain's path[0]
    roles: list[str] = field(default_factory=list)  # roles the lineage walked, in order
    since: str | None = None  # the window the seed needs (a recycled key id)
    until: str | None = None
    opening_event_ids: set[str] = field(default_factory=set)
    replayed_from: list[str] = field(default_factory=list)  # console: both addresses
    key_deleted_at: str | None = None  # federation: when the parent key was deleted


@dataclass
class IdentityTruth:
    lineages: dict[str, Lineage]
    files: list[str] = field(default_factory=list)
    record_count: int = 0

    def to_json(self) -> str:
        def plain(x):
            d = asdict(x)
            return {k: sorted(v) if isinstance(v, set) else v for k, v in d.items()}
        return json.dumps({"lineages": {k: plain(v) for k, v in self.lineages.items()},
                           "files": self.files, "record_count": self.record_count}, indent=2)


class _Trail:
    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.records: list[dict] = []
        self.truth: dict[str, Lineage] = {}
        self.signins: dict[str, str] = {}  # Identity Center user id -> portal sign-in eventID

    def lineage(self, name: str, seed: str = "", **kw) -> Lineage:
        self.truth[name] = Lineage(name, seed, **kw)
        return self.truth[name]

    def emit(self, rec: dict, of: str | None = None, decoy_of: tuple[str, ...] = (),
             opening: bool = False) -> dict:
        self.records.append(rec)
        if of:
            self.truth[of].event_ids.add(rec["eventID"])
            if opening:
                self.truth[of].opening_event_ids.add(rec["eventID"])
        for d in decoy_of:
            self.truth[d].decoy_event_ids.add(rec["eventID"])
        return rec

    def calls(self, actor: R.Actor, t: int, n: int, account: str, of: str | None = None,
              decoy_of: tuple[str, ...] = (), step: int = 40, console: bool = False) -> int:
        apis = (("ec2.amazonaws.com", "DescribeInstances"), ("s3.amazonaws.com", "ListBuckets"),
                ("iam.amazonaws.com", "ListRoles"), ("lambda.amazonaws.com", "ListFunctions"),
                ("cloudwatch.amazonaws.com", "DescribeAlarms"))
        for i in range(n):
            src, name = apis[i % len(apis)]
            rec = R.call(self.rng, actor, t + i * step, src, name, "us-east-1", account, read_only=True)
            if console:
                rec["sessionCredentialFromConsole"] = "true"
            self.emit(rec, of, decoy_of)
        return t + n * step

    def assume_opening(self, *args, **kw) -> tuple[R.Actor, str]:
        """The STS call that opens a lineage (its ``issued_by``)."""
        return self.assume(*args, opening=True, **kw)

    def assume(self, caller: R.Actor, t: int, account: str, role: str, session: str,
               of: str | None, *, name: str = "AssumeRole", params: dict | None = None,
               decoy_of: tuple[str, ...] = (), key: str | None = None, path: str = "/",
               duration: int = 3600, opening: bool = False, **ident) -> tuple[R.Actor, str]:
        """An STS call issuing a session of ``role`` and the actor that then uses it."""
        rng = self.rng
        key = key or R.key_id(rng, "ASIA")
        rid = R.unique_id(rng, "AROA")
        arn = R.role_arn(account, role, path)
        rec = R.assume_role(rng, caller, t, "us-east-1", arn, rid, session, key, name=name,
                            params=params, duration=duration)
        self.emit(rec, of, decoy_of, opening=opening)
        if rec.get("sharedEventID") and caller.identity.get("type") not in ("AWSService",) \
                and caller.account and caller.account != account:
            self.emit(R.owner_copy(rng, rec, account), of, decoy_of, opening=opening)
        uses = ident.pop("uses_key", key)
        who = R.assumed_role(account, role, rid, session, uses, R.iso(t), path=path, **ident)
        return R.Actor(who, caller.ip, caller.user_agent, uses), key


def _console(tr: _Trail) -> None:
    rng = tr.rng
    lin = tr.lineage("console")
    uid = R.unique_id(rng, "AIDA")
    ip1, ip2 = "203.0.113.41", "198.51.100.201"
    signin = R.Actor(R.iam_user(A, "alice", uid), ip1, _CHROME)
    tr.emit(R.console_login(rng, signin, T0, A, mfa=True), "console", opening=True)
    keys = [R.key_id(rng, "ASIA") for _ in range(8)]
    t = T0 + 20
    for i, k in enumerate(keys[:6]):  # the console mints a key every few minutes
        ident = R.iam_user(A, "alice", uid, k)
        ident["sessionContext"] = {"attributes": {"creationDate": R.iso(T0), "mfaAuthenticated": "true"}}
        agent = "AWS Internal" if i == 2 else _CHROME
        t = tr.calls(R.Actor(ident, ip1, agent, k), t, 6, A, "console", console=True)
    # the console switches role into account B with one of its keys
    ident = R.iam_user(A, "alice", uid, keys[3])
    ident["sessionContext"] = {"attributes": {"creationDate": R.iso(T0), "mfaAuthenticated": "true"}}
    switch = R.Actor(ident, ip1, _CHROME, keys[3])
    admin, _ = tr.assume(switch, t + 30, B, "OrgAdmin", "alice", "console")
    tr.records[-2]["sessionCredentialFromConsole"] = "true"
    tr.calls(admin, t + 60, 5, B, "console")
    lin.roles = [f"arn:aws:iam::{B}:role/OrgAdmin"]
    lin.origin = f"arn:aws:iam::{A}:user/alice"
    # the session cookie replayed from another address and browser, mid-session
    for k in keys[6:]:
        ident = R.iam_user(A, "alice", uid, k)
        ident["sessionContext"] = {"attributes": {"creationDate": R.iso(T0), "mfaAuthenticated": "true"}}
        t = tr.calls(R.Actor(ident, ip2, _FIREFOX, k), t + 600, 5, A, "console", console=True)
    lin.replayed_from = [ip1, ip2]
    lin.seed = keys[4]
    # decoys: alice signs in again the next day; keys[4] reused three days later by someone else
    day2 = T0 + 86400
    tr.emit(R.console_login(rng, signin, day2, A, mfa=True), decoy_of=("console",))
    k2 = R.key_id(rng, "ASIA")
    ident = R.iam_user(A, "alice", uid, k2)
    ident["sessionContext"] = {"attributes": {"creationDate": R.iso(day2), "mfaAuthenticated": "true"}}
    tr.calls(R.Actor(ident, ip1, _CHROME, k2), day2 + 30, 6, A, decoy_of=("console",), console=True)
    later = T0 + 3 * 86400
    bob = R.assumed_role(A, "Ops", R.unique_id(rng, "AROA"), "bob", keys[4], R.iso(later - 60))
    tr.calls(R.Actor(bob, "192.0.2.77", _CLI, keys[4]), later, 6, A, decoy_of=("console",))


def _identity_center(tr: _Trail) -> None:
    rng = tr.rng
    store = "arn:aws:identitystore::" + A + ":identitystore/d-9067642ac7"
    provider = f"arn:aws:iam::{B}:saml-provider/AWSSSO_4f2c8d1e0a9b7c65_DO_NOT_DELETE"
    role = "AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"
    path = "/aws-reserved/sso.amazonaws.com/"
    t = T0 + 2 * 3600
    users = {"identity_center": ("ana@acme.example", "94482488-3041-7026-18f3-be45837cd0e4", "198.51.100.14"),
             "identity_center_ben": ("ben@acme.example", "c4e8a418-1061-70d8-5a29-2c8b5f4e1d70", "198.51.100.15")}
    for name, (email, user_id, ip) in users.items():
        lin = tr.lineage(name, origin=f"idc-user:{user_id}",
                         roles=[f"arn:aws:iam::{B}:role/{role}"])
        portal = R.Actor(R.identity_center_user(A, user_id, store, R.uuid4(rng)), ip, _CLI)
        signin = tr.emit(R.call(rng, R.Actor(portal.identity, ip, _CHROME), t - 900, "signin.amazonaws.com",
                                "UserAuthentication", "us-east-1", A,
                                response={"UserAuthentication": "Success"}, event_type="AwsServiceEvent"),
                         name, opening=True)
        tr.signins[user_id] = signin["eventID"]
        rec = R.call(rng, portal, t, "sso.amazonaws.com", "GetRoleCredentials", "us-east-1", A,
                     params={"roleName": "AdministratorAccess", "accountId": B}, read_only=True)
        tr.emit(rec, name, opening=True)
        saml = R.Actor(R.saml_user(email, provider, "SkVv2WbmE0Nh6mS3aHYYl8pIdMY="), ip, "aws-internal/3")
        use_key = R.key_id(rng, "ASIA")
        actor, _ = tr.assume_opening(saml, t, B, role, email, name, name="AssumeRoleWithSAML",
                             params={"principalArn": provider, "durationSeconds": 28800},
                             path=path, duration=28800, uses_key=use_key,
                             on_behalf_of={"userId": user_id, "identityStoreArn": store})
        tr.records[-1]["requestParameters"].pop("roleSessionName", None)
        actor = R.Actor(actor.identity, ip, _CLI, use_key)
        end = tr.calls(actor, t + 10, 8, B, name)
        lin.seed = use_key
        if name == "identity_center":
            deploy, _ = tr.assume(actor, end + 5, C, "Deploy", email, name)
            tr.calls(deploy, end + 30, 4, C, name)
            lin.roles.append(f"arn:aws:iam::{C}:role/Deploy")
    for a, b in (("identity_center", "identity_center_ben"), ("identity_center_ben", "identity_center")):
        tr.truth[a].decoy_event_ids |= tr.truth[b].event_ids


def _identity_center_console(tr: _Trail) -> None:
    rng = tr.rng
    store = "arn:aws:identitystore::" + A + ":identitystore/d-9067642ac7"
    provider = f"arn:aws:iam::{B}:saml-provider/AWSSSO_4f2c8d1e0a9b7c65_DO_NOT_DELETE"
    role = "AWSReservedSSO_ReadOnly_9f8e7d6c5b4a3928"
    path = "/aws-reserved/sso.amazonaws.com/"
    email, user_id, ip = "ana@acme.example", "94482488-3041-7026-18f3-be45837cd0e4", "198.51.100.14"
    name = "identity_center_console"
    lin = tr.lineage(name, origin=f"idc-user:{user_id}", roles=[f"arn:aws:iam::{B}:role/{role}"])
    # no new portal sign-in: the one before her first permission set opened this one too
    lin.event_ids.add(tr.signins[user_id])
    lin.opening_event_ids.add(tr.signins[user_id])
    t = T0 + 5 * 3600
    portal = R.Actor(R.identity_center_user(A, user_id, store, R.uuid4(rng)), ip, _CHROME)
    tr.emit(R.call(rng, portal, t, "sso.amazonaws.com", "Federate", "us-east-1", A,
                   params={"roleName": "ReadOnly", "accountId": B}, read_only=True), name, opening=True)
    saml = R.Actor(R.saml_user(email, provider, "SkVv2WbmE0Nh6mS3aHYYl8pIdMY="), ip, "aws-internal/3")
    actor, _ = tr.assume_opening(saml, t, B, role, email, name, name="AssumeRoleWithSAML",
                         params={"principalArn": provider, "durationSeconds": 3600}, path=path,
                         on_behalf_of={"userId": user_id, "identityStoreArn": store})
    login_ident = {k: v for k, v in actor.identity.items() if k != "accessKeyId"}
    tr.emit(R.console_login(rng, R.Actor(login_ident, ip, _CHROME), t + 2, B, mfa=False), name)
    keys = [R.key_id(rng, "ASIA") for _ in range(3)]
    end = t + 30
    for k in keys:
        ident = dict(actor.identity, accessKeyId=k)
        end = tr.calls(R.Actor(ident, ip, _CHROME, k), end, 4, B, name, console=True)
    lin.seed = keys[1]


def _workloads(tr: _Trail) -> None:
    rng = tr.rng
    recycled = R.key_id(rng, "ASIA")
    # Lambda: the service assumes the function's role; the function chains into account B
    t = T0 + 3 * 3600
    lam = tr.lineage("lambda", origin="lambda.amazonaws.com/billing-export",
                     roles=[f"arn:aws:iam::{A}:role/billing-export-role", f"arn:aws:iam::{B}:role/DataReader"],
                     until=R.iso(t + 86400))
    svc = R.Actor(R.aws_service("lambda.amazonaws.com"), "lambda.amazonaws.com", "lambda.amazonaws.com")
    fn, _ = tr.assume_opening(svc, t, A, "billing-export-role", "billing-export", "lambda", key=recycled,
                      invoked_by=None)
    fn = R.Actor(fn.identity, "3.208.14.9", _SDK, recycled)
    end = tr.calls(fn, t + 5, 6, A, "lambda", step=2)
    reader, _ = tr.assume(fn, end, B, "DataReader", "billing-export", "lambda")
    tr.calls(reader, end + 5, 4, B, "lambda", step=2)
    lam.seed = recycled
    # EKS IRSA, two days later: issued the same key id (recycled across services)
    t2 = T0 + 2 * 86400
    eks = tr.lineage("eks", seed=recycled, since=R.iso(t2 - 60),
                     origin=f"arn:aws:iam::{A}:oidc-provider/{_EKS}/system:serviceaccount:payments:api",
                     roles=[f"arn:aws:iam::{A}:role/payments-irsa", f"arn:aws:iam::{B}:role/LedgerWriter"])
    sub = "system:serviceaccount:payments:api"
    web = R.Actor(R.web_identity_user(f"arn:aws:iam::{A}:oidc-provider/{_EKS}", "sts.amazonaws.com", sub),
                  "10.20.3.4", "aws-sdk-go-v2/1.30.3")
    pod, _ = tr.assume_opening(web, t2, A, "payments-irsa", "botocore-session-1725264000", "eks",
                       name="AssumeRoleWithWebIdentity", key=recycled,
                       web_id={"federatedProvider": f"arn:aws:iam::{A}:oidc-provider/{_EKS}",
                               "attributes": {}})
    end = tr.calls(pod, t2 + 5, 5, A, "eks", decoy_of=("lambda",), step=3)
    writer, _ = tr.assume(pod, end, B, "LedgerWriter", "payments", "eks", decoy_of=("lambda",))
    tr.calls(writer, end + 5, 3, B, "eks", decoy_of=("lambda",), step=3)
    lam.decoy_event_ids |= eks.event_ids  # each lineage is the other's decoy
    eks.decoy_event_ids |= lam.event_ids
    # EC2: an instance profile; its key id later used by a session no STS call issued
    t3 = T0 + 4 * 3600
    instance = R.instance_id(rng)
    ec2 = tr.lineage("ec2", origin=f"ec2.amazonaws.com/{instance}",
                     roles=[f"arn:aws:iam::{A}:role/web-instance"])
    svc = R.Actor(R.aws_service("ec2.amazonaws.com"), "ec2.amazonaws.com", "ec2.amazonaws.com")
    box, key = tr.assume_opening(svc, t3, A, "web-instance", instance, "ec2", duration=6 * 3600, ec2=True)
    box = R.Actor(box.identity, "10.0.1.23", _SDK, key)
    tr.calls(box, t3 + 60, 8, A, "ec2", step=120)
    ec2.seed = key
    ghost = R.assumed_role(A, "ci-deploy", R.unique_id(rng, "AROA"), "GitHubActions", key,
                           R.iso(t3 + 86400 - 30))
    tr.calls(R.Actor(ghost, "20.1.2.3", _CLI, key), t3 + 86400, 4, A, decoy_of=("ec2",))
    # GitHub Actions OIDC into a deploy role, then into account C
    t4 = T0 + 6 * 3600
    sub = "repo:acme/infra:ref:refs/heads/main"
    gh = tr.lineage("github", origin=f"{_GITHUB}/{sub}",
                    roles=[f"arn:aws:iam::{A}:role/gha-deploy", f"arn:aws:iam::{C}:role/Deploy"])
    web = R.Actor(R.web_identity_user(_GITHUB, "sts.amazonaws.com", sub), "20.42.7.19",
                  "aws-sdk-js/3.637.0 ua/2.0 os/linux md/nodejs#20.17.0 GitHubActions")
    job, key = tr.assume_opening(web, t4, A, "gha-deploy", "GitHubActions", "github",
                         name="AssumeRoleWithWebIdentity",
                         web_id={"federatedProvider": f"arn:aws:iam::{A}:oidc-provider/{_GITHUB}",
                                 "attributes": {}})
    end = tr.calls(job, t4 + 5, 4, A, "github", step=3)
    dep, _ = tr.assume(job, end, C, "Deploy", "GitHubActions", "github")
    tr.calls(dep, end + 5, 4, C, "github", step=3)
    gh.seed = key


def _saml_and_federation(tr: _Trail) -> None:
    rng = tr.rng
    t = T0 + 7 * 3600
    provider = f"arn:aws:iam::{A}:saml-provider/Okta"
    saml = tr.lineage("saml", origin=f"{provider}/dana@acme.example",
                      roles=[f"arn:aws:iam::{A}:role/Engineer"])
    idp = R.Actor(R.saml_user("dana@acme.example", provider, "bdGOnTesti4Ng7f+4IZV8B2q1BQ="),
                  "203.0.113.90", _CHROME)
    eng, key = tr.assume_opening(idp, t, A, "Engineer", "dana@acme.example", "saml",
                         name="AssumeRoleWithSAML",
                         params={"principalArn": provider, "sourceIdentity": "dana"},
                         source_identity="dana")
    tr.records[-1]["requestParameters"].pop("roleSessionName", None)
    tr.calls(eng, t + 10, 5, A, "saml")
    saml.seed = key
    # GetFederationToken; the parent key is deleted; the federated session lives on
    t2 = T0 + 8 * 3600
    fed = tr.lineage("federation")
    bot = R.iam_user(A, "ops-bot", R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
    parent = R.Actor(bot, "192.0.2.10", _CLI, bot["accessKeyId"])
    fed.seed = bot["accessKeyId"]
    tr.calls(parent, t2 - 300, 2, A, "federation")
    fkey = R.key_id(rng, "ASIA")
    tr.emit(R.call(rng, parent, t2, "sts.amazonaws.com", "GetFederationToken", "us-east-1", A,
                   params={"name": "contractor", "durationSeconds": 43200},
                   response={"credentials": R.credentials(rng, fkey, t2, 43200),
                             "federatedUser": {"federatedUserId": f"{A}:contractor",
                                               "arn": f"arn:aws:sts::{A}:federated-user/contractor"}},
                   read_only=True), "federation")
    admin = R.iam_user(A, "secadmin", R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
    deleted = t2 + 3600
    tr.emit(R.call(rng, R.Actor(admin, "203.0.113.5", _CLI, admin["accessKeyId"]), deleted,
                   "iam.amazonaws.com", "DeleteAccessKey", "us-east-1", A,
                   params={"userName": "ops-bot", "accessKeyId": bot["accessKeyId"]}))
    fed.key_deleted_at = R.iso(deleted)
    contractor = R.federated_user(A, "contractor", fkey, R.iso(t2), "ops-bot", bot["principalId"])
    tr.calls(R.Actor(contractor, "198.51.100.99", _CLI, fkey), deleted + 1800, 6, A, "federation",
             step=600)


def build_identities(out: str | Path, seed: int = 0, noise_sessions: int = 0) -> IdentityTruth:
    """Write the identity-type trail under ``out``; returns what a correct analyzer finds.

    ``noise_sessions`` adds that many unrelated role sessions (an AssumeRole by an IAM user
    and a few calls each) around the lineages, for benchmarks.
    """
    rng = Random(seed)
    tr = _Trail(rng)
    _console(tr)
    _identity_center(tr)
    _identity_center_console(tr)
    _workloads(tr)
    _saml_and_federation(tr)
    _noise(tr, noise_sessions)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recs = sorted(tr.records, key=lambda r: (r["eventTime"], r["eventID"]))
    files = []
    for i in range(0, len(recs), 5000):
        path = out / f"identities-{i // 5000:04d}.json"
        path.write_text(json.dumps({"Records": recs[i:i + 5000]}))
        files.append(str(path))
    return IdentityTruth(tr.truth, files, len(recs))


def _noise(tr: _Trail, n: int) -> None:
    rng = tr.rng
    people = []
    for i in range(max(1, n // 50)):
        ident = R.iam_user(A, f"dev{i}", R.unique_id(rng, "AIDA"), R.key_id(rng, "AKIA"))
        people.append(R.Actor(ident, f"192.0.2.{i % 250 + 1}", _CLI, ident["accessKeyId"]))
    for j in range(n):
        who = people[j % len(people)]
        t = T0 + rng.randrange(0, 3 * 86400)
        role = f"Team{j % 20}"
        actor, _ = tr.assume(who, t, B if j % 3 else A, role, f"dev-{j}", None)
        tr.calls(actor, t + 5, 8, actor.account or A, step=7)
