"""Readers and admins in the chat page (AppTest), in each configuration: no sign-in on loopback (single user),
no sign-in on a public address (admin actions off), an admin password, OIDC; plus the server allowlist, the
question rate limit and the audit log as the page drives them."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from qa.access import hash_password
from qa.audit import read_actions
from tests.ui.conftest import APP, APP_TIMEOUT_S
from tests.ui.test_app import LEAP_QUESTION, PILLARS, answers, ask, unescape

PASSWORD = "team admin password"
API_KEY = "sk-test-key-that-must-stay-on-the-server"


def start(use_settings, settings, **env) -> AppTest:
    use_settings(settings, **env)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def admin_controls(at: AppTest) -> set[str]:
    """Which admin-only controls the page shows."""
    keys = {b.key for b in at.button} | {s.key for s in at.selectbox} | {c.key for c in at.checkbox}
    shown = {key for key in ("reindex", "reindex_full", "llm_server", "delete_upload", "build_index") if key in keys}
    if at.get("file_uploader"):
        shown.add("upload")
    if any(t.key == "add_urls_text" for t in at.text_area):
        shown.add("add_urls")
    return shown


def page_payload(at: AppTest) -> str:
    """Everything the script sent towards the browser, as text."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in children.values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def sign_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key="admin_password").set_value(password)
    at.button(key="FormSubmitter:admin_sign_in-Sign in as admin").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_sign_in_on_loopback_the_app_is_single_user_and_says_so(use_settings, seed_app_settings):
    at = start(use_settings, seed_app_settings)

    assert any("Single-user mode" in c.value for c in at.sidebar.caption)
    assert {"reindex", "reindex_full", "upload", "add_urls"} <= admin_controls(at)
    assert not [t for t in at.text_input if t.key == "admin_password"]


def test_without_sign_in_on_a_public_address_admin_actions_are_off_and_the_sidebar_says_how(
        use_settings, seed_app_settings, listen_on):
    listen_on("0.0.0.0")
    at = start(use_settings, seed_app_settings, QA_LLM="openai", QA_LLM_BASE_URL="http://127.0.0.1:9/v1")

    [warning] = [w.value for w in at.sidebar.warning if "Admin actions are off" in w.value]
    assert "QA_ADMIN_PASSWORD_HASH" in unescape(warning) and "qa hash-password" in warning
    assert admin_controls(at) == set()
    assert not [t for t in at.text_input if t.key == "admin_password"]
    ask(at, LEAP_QUESTION)  # readers still ask and read
    assert any(PILLARS[0] in a for a in answers(at)) or any("cannot reach" in unescape(w.value) for w in at.warning)


def test_a_reader_cannot_reindex_upload_or_choose_the_llm_server_when_a_password_is_set(
        use_settings, seed_app_settings, listen_on):
    listen_on("0.0.0.0")
    at = start(use_settings, seed_app_settings, QA_ADMIN_PASSWORD_HASH=hash_password(PASSWORD),
               QA_LLM_SERVERS=json.dumps([{"name": "team llama", "base_url": "http://127.0.0.1:9/v1"}]))

    assert admin_controls(at) == set()
    assert any("Only admins can reindex" in c.value for c in at.sidebar.caption)
    assert any(c.value.startswith("Answers by: Extractive") for c in at.sidebar.caption)
    ask(at, LEAP_QUESTION)
    assert any(PILLARS[0] in a for a in answers(at))
    at.feedback[0].set_value(1).run()  # readers give feedback
    assert json.loads(seed_app_settings.feedback_path.read_text())["rating"] == "up"


def test_an_admin_signs_in_with_the_password_and_the_reindex_is_audited(use_settings, seed_app_settings, listen_on):
    listen_on("0.0.0.0")
    at = start(use_settings, seed_app_settings, QA_ADMIN_PASSWORD_HASH=hash_password(PASSWORD))

    sign_in(at, PASSWORD)
    assert {"reindex", "upload", "add_urls"} <= admin_controls(at)
    at.button(key="reindex").click().run()

    assert any("Indexed: added 0" in unescape(s.value) for s in at.sidebar.success)
    sign_in_record, reindex_record = read_actions(seed_app_settings.audit_log_path)
    assert sign_in_record["action"] == "sign_in" and sign_in_record["who"].startswith("admin (password)")
    assert reindex_record["action"] == "reindex" and reindex_record["who"].startswith("admin (password)")
    assert (reindex_record["unchanged"], reindex_record["articles"]) == (4, 4)

    at.button(key="sign_out").click().run()
    assert admin_controls(at) == set()


def test_repeated_wrong_passwords_lock_admin_sign_in(use_settings, seed_app_settings, listen_on):
    listen_on("0.0.0.0")
    at = start(use_settings, seed_app_settings, QA_ADMIN_PASSWORD_HASH=hash_password(PASSWORD),
               QA_ADMIN_LOCKOUT_FAILURES="2")

    sign_in(at, "guess one")
    assert any("Wrong password; 1 more wrong try" in e.value for e in at.sidebar.error)
    sign_in(at, "guess two")
    sign_in(at, PASSWORD)

    assert any("locked for 15 minutes" in e.value for e in at.sidebar.error)
    assert admin_controls(at) == set()
    assert [r["action"] for r in read_actions(seed_app_settings.audit_log_path)] == ["sign_in_failed"] * 3


def test_with_oidc_configured_readers_get_a_sign_in_button_and_a_listed_user_is_admin(
        use_settings, seed_app_settings, listen_on):
    listen_on("0.0.0.0")
    use_settings(seed_app_settings, QA_ADMIN_EMAILS='["ops@example.com"]')
    auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
            "client_id": "qa", "client_secret": "s", "server_metadata_url": "https://id.example.com/.well-known"}
    reader = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    reader.secrets["auth"] = auth
    reader.run()
    other = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    other.secrets["auth"] = auth
    other.user = {"is_logged_in": True, "email": "someone@example.com"}
    other.run()
    ops = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    ops.secrets["auth"] = auth
    ops.user = {"is_logged_in": True, "email": "ops@example.com"}
    ops.run()

    assert [b.label for b in reader.sidebar.button if b.key == "sign_in"] == ["Sign in as admin"]
    assert admin_controls(reader) == set() and not [t for t in reader.text_input if t.key == "admin_password"]
    assert admin_controls(other) == set()
    assert {"reindex", "upload", "add_urls"} <= admin_controls(ops)
    assert any("ops@example.com" in unescape(c.value) for c in ops.sidebar.caption)


def test_an_admin_chooses_among_configured_servers_by_name_and_no_key_or_address_reaches_the_page(
        use_settings, seed_app_settings, scripted_llm):
    url, requests = scripted_llm
    servers = [{"name": "team llama", "base_url": url, "model": "scripted", "api_key": API_KEY}]
    at = start(use_settings, seed_app_settings, QA_LLM_SERVERS=json.dumps(servers))

    assert at.selectbox(key="llm_server").options == ["Extractive (offline, no LLM)", "team llama"]
    at.selectbox(key="llm_server").set_value("team llama").run()
    ask(at, LEAP_QUESTION)

    assert requests and "Legal and regulatory streamlining" in json.dumps(requests[0])
    [record] = read_actions(seed_app_settings.audit_log_path)
    assert (record["action"], record["chosen"], record["who"]) == ("llm_server", "team llama", "local user")
    payload = page_payload(at)
    assert "team llama" in payload
    assert API_KEY not in payload and url not in payload
    assert not [t for t in at.text_input if t.key in ("llm_base_url", "llm_model")]


def test_a_url_put_into_the_session_by_a_visitor_is_never_contacted(use_settings, seed_app_settings, scripted_llm,
                                                                   listener):
    typed, connections = listener
    url, requests = scripted_llm
    use_settings(seed_app_settings, QA_LLM_SERVERS=json.dumps([{"name": "team llama", "base_url": url}]))
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    # What the old sidebar's "Answer mode", "Server URL" and "Model" boxes carried, forged into the session.
    at.session_state["llm"] = "openai"
    at.session_state["llm_base_url"] = typed
    at.session_state["llm_model"] = "attacker"
    at.session_state["llm_server"] = typed
    at.run()
    ask(at, LEAP_QUESTION)
    with pytest.raises(ValueError, match="is not in list"):  # the widget itself only takes configured names
        at.selectbox(key="llm_server").set_value(typed).run()

    assert connections == [] and requests == []
    assert any(PILLARS[0] in a for a in answers(at))  # answered by the extractive default


def test_questions_over_the_per_session_limit_get_a_clear_message_and_no_answer(use_settings, seed_app_settings):
    at = start(use_settings, seed_app_settings, QA_QUESTIONS_PER_MINUTE="2")

    ask(at, LEAP_QUESTION)
    ask(at, "Which exchange listed stWEMIX?")
    ask(at, "When will South Korea allow ICOs again?")

    assert len(answers(at)) == 2
    [refusal] = [w.value for w in at.warning if "questions in the last minute" in w.value]
    assert "QA_QUESTIONS_PER_MINUTE=2" in refusal and "Please wait" in refusal


def test_an_upload_over_the_count_or_size_limit_is_refused_and_nothing_is_saved(use_settings, make_settings):
    import shutil

    from tests.seed import SEED_CORPUS

    settings = make_settings()
    shutil.copytree(SEED_CORPUS, settings.corpus_dir, dirs_exist_ok=True)
    before = sorted(p.name for p in settings.corpus_dir.iterdir())
    article = b"---\ntitle: Freedonia licenses Quuxcoin\n---\n\n" + b"Freedonia licensed Quuxcoin. " * 8
    at = start(use_settings, settings, QA_MAX_UPLOAD_FILES="1", QA_MAX_UPLOAD_MB="0.0001")

    at.file_uploader[0].set_value([("a.md", article, "text/markdown"), ("b.md", article, "text/markdown")])
    at.button(key="FormSubmitter:upload-Add and index").click().run()

    errors = [unescape(e.value) for e in at.sidebar.error]
    assert any("2 files at once is more than the 1 allowed (QA_MAX_UPLOAD_FILES)" in e for e in errors)
    assert any("'a.md' is 0.0 MB, over the 0.0001 MB limit (QA_MAX_UPLOAD_MB)" in e for e in errors)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before
    assert read_actions(settings.audit_log_path) == []


def test_a_reader_without_an_index_is_told_who_can_build_it(use_settings, make_settings, listen_on):
    listen_on("0.0.0.0")
    at = start(use_settings, make_settings())

    assert any("run `qa reindex` on the server" in w.value for w in at.warning)
    assert admin_controls(at) == set()
