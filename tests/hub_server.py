"""A small Hugging Face Hub for the tests: what huggingface_hub 2.4 calls to publish and download a model repo.

Served in-process on 127.0.0.1 (no network): whoami, repo create/delete, model info, tree listing, refs, branches,
README metadata validation, preupload + NDJSON commit (regular files base64, LFS files through the batch API, a PUT
and a verify), and file resolve with the headers downloads check (ETag, X-Repo-Commit, X-Linked-Etag/-Size).
No Xet: the `local_hub` fixture sets HF_HUB_DISABLE_XET so large files take the plain LFS path.

    pytest_plugins = ["hub_server"]           # in a test module, then:

    def test_push(local_hub):                 # HF_ENDPOINT points here, HF_TOKEN is `local_hub.token` (user "alice")
        local_hub.fail_next("commit")         # drop the connection on the next commit, to test interrupted pushes

Like the real Hub, a 401 means a bad token, a 403 a namespace the token cannot write to, and private repos of
others look missing (404 RepoNotFound).

Test modules also import its helpers directly, so pytest must not try to rewrite it as a plugin: PYTEST_DONT_REWRITE
"""

import base64
import contextlib
import fnmatch
import hashlib
import json
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml


FIXTURES = Path(__file__).parent / "fixtures" / "hub"
LFS_PATTERNS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.zip", "*.gz"]
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()
        )

    @property
    def git_oid(self) -> str:
        """The git blob id: of the content for regular files, of the pointer file for LFS files (as git stores it)."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    def tree_entry(self, path: str) -> dict:
        entry = {"type": "file", "path": path, "size": len(self.data), "oid": self.git_oid}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer)}
        return entry


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, Blob]
    parent: str | None = None


@dataclass
class Repo:
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def resolve(self, revision: str) -> Commit | None:
        oid = self.refs.get(revision, revision)
        return self.commits.get(oid)

    def add_commit(self, branch: str, message: str, files: dict[str, Blob]) -> Commit:
        commit = Commit(
            oid=uuid.uuid4().hex + uuid.uuid4().hex[:8], message=message, files=files, parent=self.refs.get(branch)
        )
        self.commits[commit.oid] = commit
        self.refs[branch] = commit.oid
        return commit


@dataclass
class User:
    name: str
    orgs: tuple[str, ...] = ()

    def can_write(self, namespace: str) -> bool:
        return namespace == self.name or namespace in self.orgs


class HubError(Exception):
    """An HTTP error answer, with the X-Error-Code huggingface_hub maps onto its exception classes."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class Disconnect(Exception):
    """Close the connection without answering: what a network failure looks like to the client."""


class LocalHub:
    """The Hub's state (users, repos, LFS objects), the HTTP server around it, and fault injection."""

    def __init__(self):
        self.users = {"hf_local_alice": User("alice", orgs=("thinkprune-org",)), "hf_local_bob": User("bob")}
        self.token = "hf_local_alice"
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self._faults: dict[str, int] = {}
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # -- helpers for tests ---------------------------------------------------------------------------------------

    def fail_next(self, route: str, times: int = 1) -> None:
        """Drop the connection on the next `times` requests to `route` ("commit", "lfs_upload", "preupload"...)."""
        self._faults[route] = times

    def create_repo(self, repo_id: str, files: dict[str, bytes] | None = None, private: bool = False) -> Repo:
        """A repo as another client would have left it (e.g. someone else's model)."""
        with self._lock:
            repo = self.repos[repo_id] = Repo(repo_id, private)
            contents = {".gitattributes": GITATTRIBUTES, **(files or {})}
            repo.add_commit("main", "initial commit", {p: Blob(d, _is_lfs(p, d)) for p, d in contents.items()})
            return repo

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        commit = self.repos[repo_id].resolve(revision)
        return {path: blob.data for path, blob in commit.files.items()}

    def head(self, repo_id: str, revision: str = "main") -> str:
        return self.repos[repo_id].refs[revision]

    def count(self, route: str) -> int:
        return sum(1 for name, _ in self.requests if name == route)

    # -- request handling ----------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        for route_method, pattern, name, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                with self._lock:
                    self.requests.append((name, path))
                    if self._faults.get(name):
                        self._faults[name] -= 1
                        raise Disconnect
                    groups = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                    return handler(self, query=query, headers=headers, body=body, **groups)
        raise HubError(404, f"no route for {method} {path}")

    def _user(self, headers, required: bool = True) -> User | None:
        auth = headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if token is None:
            if required:
                raise HubError(401, "You must be authenticated to access this resource")
            return None
        if token not in self.users:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.users[token]

    def _repo(self, repo_id: str, user: User | None) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not (user and user.can_write(repo.namespace))):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _writable_repo(self, repo_id: str, headers) -> Repo:
        user = self._user(headers)
        repo = self._repo(repo_id, user)
        if not user.can_write(repo.namespace):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- endpoints -----------------------------------------------------------------------------------------------

    def whoami(self, headers, **_):
        user = self._user(headers)
        orgs = [{"name": org, "type": "org"} for org in user.orgs]
        return {"type": "user", "name": user.name, "orgs": orgs, "auth": {"accessToken": {"role": "write"}}}

    def validate_yaml(self, body, **_):
        content = json.loads(body)["content"]
        match = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---", content)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            raise HubError(400, "invalid YAML", headers={"body": {"errors": [{"message": str(error)}]}}) from error
        if not isinstance(metadata or {}, dict):
            raise HubError(400, "metadata must be a mapping")
        return {"errors": [], "warnings": []}

    def create_repo_endpoint(self, headers, body, **_):
        user = self._user(headers)
        payload = json.loads(body)
        repo_id = f"{payload.get('organization') or user.name}/{payload['name']}"
        url = f"{self.endpoint}/{repo_id}"
        if repo_id in self.repos:
            raise HubError(409, "You already created this model repo", headers={"body": {"url": url}})
        if not user.can_write(repo_id.split("/")[0]):
            raise HubError(403, f"You don't have the rights to create a model under {repo_id.split('/')[0]}")
        self.create_repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        return {"url": url, "name": repo_id, "id": uuid.uuid4().hex}

    def delete_repo(self, headers, body, **_):
        payload = json.loads(body)
        repo_id = f"{payload['organization'] or self._user(headers).name}/{payload['name']}"
        self._writable_repo(repo_id, headers)
        del self.repos[repo_id]
        return {}

    def model_info(self, headers, repo, revision="main", **_):
        repo_obj = self._repo(repo, self._user(headers, required=False))
        commit = self._commit(repo_obj, revision)
        card = commit.files.get("README.md")
        match = card and re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---", card.data.decode())
        card_data = yaml.safe_load(match.group(1)) if match else None
        return {
            "_id": uuid.uuid4().hex[:24],
            "id": repo,
            "private": repo_obj.private,
            "sha": commit.oid,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "tags": (card_data or {}).get("tags", []),
            "cardData": card_data,
            "siblings": [
                {"rfilename": path, "size": len(blob.data), "blobId": blob.git_oid}
                | (
                    {"lfs": {"size": len(blob.data), "sha256": blob.sha256, "pointerSize": len(blob.pointer)}}
                    if blob.lfs
                    else {}
                )
                for path, blob in sorted(commit.files.items())
            ],
        }

    def tree(self, headers, query, repo, revision, path="", **_):
        commit = self._commit(self._repo(repo, self._user(headers, required=False)), revision)
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        entries, folders = [], set()
        for file_path, blob in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :].split("/")
            for depth in range(1, len(rest)):
                folders.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                entries.append(blob.tree_entry(file_path))
        if prefix and not entries and not folders:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        for folder in sorted(folders):
            if recursive or "/" not in folder[len(prefix) :]:
                entries.append({"type": "directory", "path": folder, "size": 0, "oid": git_blob_sha1(folder.encode())})
        return entries

    def refs(self, headers, repo, **_):
        repo_obj = self._repo(repo, self._user(headers, required=False))
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid} for name, oid in repo_obj.refs.items()
        ]
        return {"branches": branches, "converts": [], "tags": []}

    def create_branch(self, headers, body, repo, branch, **_):
        repo_obj = self._writable_repo(repo, headers)
        if branch in repo_obj.refs:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        repo_obj.refs[branch] = self._commit(repo_obj, start).oid
        return {}

    def delete_branch(self, headers, repo, branch, **_):
        repo_obj = self._writable_repo(repo, headers)
        if branch == "main" or branch not in repo_obj.refs:
            raise HubError(403 if branch == "main" else 404, f"cannot delete branch {branch}")
        del repo_obj.refs[branch]
        return {}

    def preupload(self, headers, body, repo, revision, **_):
        commit = self._commit(self._writable_repo(repo, headers), revision)
        answers = []
        for item in json.loads(body)["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = _is_lfs(item["path"], sample, item["size"])
            existing = commit.files.get(item["path"])
            oid = None if existing is None else (existing.sha256 if existing.lfs else existing.git_oid)
            answers.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return {"files": answers, "commitOid": commit.oid}

    def lfs_batch(self, headers, body, repo, **_):
        self._writable_repo(repo, headers)
        objects = []
        for obj in json.loads(body)["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.lfs_objects:
                answer["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-storage/{obj['oid']}"},
                    "verify": {"href": f"{self.endpoint}/{repo}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        return {"transfer": "basic", "objects": objects}

    def lfs_upload(self, body, oid, **_):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "content does not match its oid")
        self.lfs_objects[oid] = body
        return b""

    def lfs_verify(self, headers, body, repo, **_):
        self._writable_repo(repo, headers)
        payload = json.loads(body)
        if len(self.lfs_objects.get(payload["oid"], b"")) != payload["size"] or payload["oid"] not in self.lfs_objects:
            raise HubError(404, f"object {payload['oid']} was not uploaded")
        return {}

    def commit(self, headers, query, body, repo, revision, **_):
        repo_obj = self._writable_repo(repo, headers)
        head = self._commit(repo_obj, revision)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), lfs=False)
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                files[value["path"]] = Blob(self.lfs_objects[value["oid"]], lfs=True)
            elif line["key"] == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif line["key"] == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: blob for path, blob in files.items() if not path.startswith(folder)}
        if revision not in repo_obj.refs:
            raise HubError(400, f"cannot commit onto {revision}: not a branch")
        commit = repo_obj.add_commit(revision, header["summary"], files)
        return {
            "commitUrl": f"{self.endpoint}/{repo}/commit/{commit.oid}",
            "commitOid": commit.oid,
            "pullRequestUrl": None,
            "success": True,
        }

    def resolve_file(self, headers, repo, revision, path, **_):
        commit = self._commit(self._repo(repo, self._user(headers, required=False)), revision)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        answer_headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.git_oid}"'}
        if blob.lfs:
            answer_headers |= {
                "ETag": f'"{blob.sha256}"',
                "X-Linked-Etag": f'"{blob.sha256}"',
                "X-Linked-Size": str(len(blob.data)),
            }
        return FileAnswer(blob.data, answer_headers)


@dataclass
class FileAnswer:
    data: bytes
    headers: dict


def _is_lfs(path: str, sample: bytes, size: int | None = None) -> bool:
    """As the Hub decides: a .gitattributes LFS pattern, a large file, or binary content."""
    name = path.rsplit("/", 1)[-1]
    large = (size if size is not None else len(sample)) >= LFS_SIZE_THRESHOLD
    return large or b"\0" in sample[:512] or any(fnmatch.fnmatch(name, pattern) for pattern in LFS_PATTERNS)


ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami", LocalHub.whoami),
    ("POST", r"/api/validate-yaml", "validate_yaml", LocalHub.validate_yaml),
    ("POST", r"/api/repos/create", "create_repo", LocalHub.create_repo_endpoint),
    ("DELETE", r"/api/repos/delete", "delete_repo", LocalHub.delete_repo),
    ("GET", rf"/api/models/{REPO}", "model_info", LocalHub.model_info),
    ("GET", rf"/api/models/{REPO}/revision/(?P<revision>[^/]+)", "model_info", LocalHub.model_info),
    ("GET", rf"/api/models/{REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?", "tree", LocalHub.tree),
    ("GET", rf"/api/models/{REPO}/refs", "refs", LocalHub.refs),
    ("POST", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", "create_branch", LocalHub.create_branch),
    ("DELETE", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", "delete_branch", LocalHub.delete_branch),
    ("POST", rf"/api/models/{REPO}/preupload/(?P<revision>[^/]+)", "preupload", LocalHub.preupload),
    ("POST", rf"/api/models/{REPO}/commit/(?P<revision>[^/]+)", "commit", LocalHub.commit),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", "lfs_batch", LocalHub.lfs_batch),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/verify", "lfs_verify", LocalHub.lfs_verify),
    ("PUT", r"/lfs-storage/(?P<oid>[0-9a-f]{64})", "lfs_upload", LocalHub.lfs_upload),
    ("GET", rf"/{REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", "resolve", LocalHub.resolve_file),
    ("HEAD", rf"/{REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", "resolve", LocalHub.resolve_file),
]


def _make_handler(hub: LocalHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, data: bytes, headers: dict, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _dispatch(self):
            url = urlsplit(self.path)
            body = self._body()
            try:
                result = hub.handle(self.command, url.path, parse_qs(url.query), self.headers, body)
            except Disconnect:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            except HubError as error:
                headers = {"X-Error-Message": error.message} | {k: v for k, v in error.headers.items() if k != "body"}
                if error.code:
                    headers["X-Error-Code"] = error.code
                payload = {"error": error.message} | error.headers.get("body", {})
                self._answer(error.status, json.dumps(payload).encode(), headers, "application/json")
                return
            if isinstance(result, FileAnswer):
                self._send_file(result)
            elif isinstance(result, bytes):
                self._answer(200, result, {}, "application/octet-stream")
            else:
                self._answer(200, json.dumps(result).encode(), {}, "application/json")

        def _send_file(self, answer: FileAnswer) -> None:
            data, status, headers = answer.data, 200, dict(answer.headers)
            range_match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if range_match:
                start = int(range_match.group(1))
                end = int(range_match.group(2)) if range_match.group(2) else len(data) - 1
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start : end + 1], 206
            self._answer(status, data, headers, "application/octet-stream")

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    return Handler


@pytest.fixture
def local_hub(monkeypatch, tmp_path):
    """A running LocalHub that huggingface_hub (and transformers through it) talks to, with alice's token set.

    huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE, HF_HUB_DISABLE_XET and the cache/token paths when it is
    imported, so the constants are patched as well as the environment.
    """
    from huggingface_hub import constants

    with LocalHub() as hub:
        token_path = tmp_path / "hf_home" / "token"
        settings = {
            "ENDPOINT": hub.endpoint,
            "HUGGINGFACE_CO_URL_TEMPLATE": hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_OFFLINE": False,
            "HF_HUB_DISABLE_XET": True,
            "HF_HUB_CACHE": str(tmp_path / "hf_cache"),
            "HF_TOKEN_PATH": str(token_path),
            "HF_STORED_TOKENS_PATH": str(token_path.parent / "stored_tokens"),
        }
        for name, value in settings.items():
            monkeypatch.setattr(constants, name, value)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setenv("HF_HUB_CACHE", settings["HF_HUB_CACHE"])
        monkeypatch.setenv("HF_TOKEN", hub.token)
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        yield hub


def make_round_dir(path: Path, checkpoint: Path, with_eval: bool = True, **record) -> Path:
    """A finished round directory as train/round.py leaves it: a copy of `checkpoint`, trainer_log.json, evaluation
    results in eval/ and, last, round_record.json (the fixture's, with `record` overriding its fields)."""
    shutil.copytree(checkpoint, path)
    shutil.copy(FIXTURES / "trainer_log.json", path / "trainer_log.json")
    if with_eval:
        (path / "eval").mkdir()
        shutil.copy(FIXTURES / "eval_results.json", path / "eval" / "results.json")
    data = json.loads((FIXTURES / "round_record.json").read_text()) | record
    (path / "round_record.json").write_text(json.dumps(data, indent=2))
    return path
