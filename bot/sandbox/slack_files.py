"""The Slack stand-in's files: what people attach in a file_input (served at
`url_private` to the bot's token only, a sign-in page otherwise) and what the bot uploads
(`files.getUploadURLExternal`, then `files.completeUploadExternal`)."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.sandbox.slack_records import FILES_PATH, SIGN_IN_PAGE, TEAM, Call, SlackError, StandInHost


class FilesApi(StandInHost):
    """The files methods of the Slack stand-in (mixed into SlackStandIn)."""

    def share_file(self, user: str, name: str, content: bytes, *,
                   filetype: str | None = None, mimetype: str | None = None) -> dict[str, Any]:
        """A file a person attached in a file_input: its file object, as the view's state
        carries it; the bytes are served at url_private to the bot's token."""
        with self._lock:
            file_id = f"F{next(self._ids):08d}"
            extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            kind = filetype or {"xml": "xml", "txt": "text"}.get(extension, extension or "binary")
            mime = mimetype or {"xml": "text/xml", "text": "text/plain"}.get(
                kind, "application/octet-stream")
            base = f"{self.base_url}{FILES_PATH}{TEAM}-{file_id}"
            now = int(time.time())
            found = {"id": file_id, "created": now, "timestamp": now, "name": name,
                     "title": name, "mimetype": mime, "filetype": kind, "user": user,
                     "size": len(content), "mode": "hosted", "is_external": False,
                     "is_public": False, "url_private": f"{base}/{name}",
                     "url_private_download": f"{base}/download/{name}",
                     "permalink": f"https://sandbox.slack.example/files/{user}/{file_id}/{name}"}
            self.shared[file_id] = (found, content)
            return found

    def download(self, path: str, token: str | None) -> tuple[int, str, bytes]:
        """A file at its url_private: the bytes to the bot's token with files:read; to
        anything else, Slack's sign-in page with 200."""
        time.sleep(self.file_delay_s)  # in the server's thread, outside the lock
        with self._lock:
            file_id = path.removeprefix(FILES_PATH).split("/", 1)[0].removeprefix(f"{TEAM}-")
            call = Call("url_private", {"file": file_id}, time.time())
            self.calls.append(call)
            shared = self.shared.get(file_id)
            if token != self.token or "files:read" not in self.scopes:
                call.error = "sign_in_page"
                return 200, "text/html; charset=utf-8", SIGN_IN_PAGE
            if shared is None:
                call.error = "file_not_found"
                return 404, "text/html; charset=utf-8", b"<html><body>Not found</body></html>"
            return 200, shared[0]["mimetype"], shared[1]

    def files_in(self, channel: str) -> list[dict[str, Any]]:
        """The files shared in a channel (a DM is `D` + the user's id), oldest first."""
        return [u for u in self.uploads.values() if u.get("channel") == channel]

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        """Slack requires the file's name and its length in bytes; a length of 0 is
        `missing_argument`, as Slack's method reference says."""
        length = str(params.get("length") or "")
        if not params.get("filename") or not length.isdigit():
            raise SlackError("invalid_arguments")
        if int(length) == 0:
            raise SlackError("missing_argument")
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = {"filename": params.get("filename"), "content": b"",
                                 "length": int(length)}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        channel = self._member_of(params, "channel_id")
        shared = []
        for item in files:
            upload = self.uploads.get(item["id"])
            if upload is None:
                raise SlackError("file_not_found")
            upload.update(title=item.get("title"), channel=channel,
                          thread_ts=params.get("thread_ts"), ts=self._ts(),
                          comment=params.get("initial_comment"))
            shared.append({"id": item["id"], "title": item.get("title"),
                           "name": upload["filename"]})
        return {"files": shared}
