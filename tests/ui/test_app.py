"""The chat page through Streamlit's AppTest: the script runs in this process on the real model and index."""
from __future__ import annotations

import json
import re

from streamlit.testing.v1 import AppTest

from qa.feedback import read_feedback
from tests.seed import KOREA_TITLE, LEAP_TITLE, WEMIX_TITLE
from tests.ui.conftest import APP, APP_TIMEOUT_S, HOSTILE_QUESTION

LEAP_QUESTION = "What does the LEAP acronym stand for?"
PILLARS = ("Legal and regulatory streamlining", "Expanding the suite of tokenized products",
           "Advancing use cases and cross-sectoral collaboration", "People and partnership development")


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def answers(at: AppTest) -> list[str]:
    return [h.value for h in at.html if 'class="qa-answer"' in h.value]


def source_titles(at: AppTest) -> list[str]:
    return [unescape(e.label).split("] ", 1)[1] for e in at.expander if e.label.startswith("\\[")]


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_question_gets_an_answer_with_numbered_sources_and_highlighted_passage(app):
    ask(app, LEAP_QUESTION)

    [answer] = answers(app)
    assert all(pillar in answer for pillar in PILLARS)
    assert "[1]" in answer
    assert source_titles(app)[0] == LEAP_TITLE
    card = app.expander[0]
    passage = next(h.value for h in card.get("html") if "qa-passage" in h.value)
    assert "<mark>" in passage and "Legal and regulatory streamlining" in passage
    meta = next(h.value for h in card.get("html") if "qa-meta" in h.value)
    assert "2025-06-27" in meta and "CoinNess" in meta and "Hong Kong" in meta


def test_sample_question_button_asks_it(app):
    app.button(key="sample-0").click().run()

    assert any(PILLARS[0] in answer for answer in answers(app))
    assert [m.name for m in app.chat_message] == ["user", "assistant"]


def test_follow_up_is_combined_with_the_previous_question_and_shown(app):
    ask(app, "What is Hong Kong's new licensing regime for stablecoin issuers?")
    ask(app, "and when does it start?")

    searched = [unescape(c.value) for c in app.caption if c.value.startswith("Searched for")]
    assert searched == [
        "Searched for: What is Hong Kong's new licensing regime for stablecoin issuers? and when does it start?"]
    assert len(answers(app)) == 2
    assert "Aug. 1" in answers(app)[1]
    assert source_titles(app).count(LEAP_TITLE) >= 2  # both answers cite the LEAP article


def test_jurisdiction_filter_changes_the_sources(app):
    question = "Which token was listed on an exchange?"
    ask(app, question)
    unfiltered = set(source_titles(app))

    app.multiselect(key="filter_jurisdictions").set_value(["South Korea"]).run()
    ask(app, question)
    filtered = set(source_titles(app)) - unfiltered

    assert unfiltered == {WEMIX_TITLE}
    assert filtered == {KOREA_TITLE}


def test_missing_index_is_explained_and_can_be_built_from_the_page(use_settings, make_settings):
    import shutil

    from tests.seed import SEED_CORPUS

    settings = make_settings()
    shutil.copytree(SEED_CORPUS, settings.corpus_dir, dirs_exist_ok=True)
    use_settings(settings)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()

    assert any("No index yet" in w.value for w in at.warning)
    ask(at, LEAP_QUESTION)
    assert any("no index" in unescape(e.value) and "qa reindex" in unescape(e.value) for e in at.error)
    assert not answers(at)

    at.button(key="build_index").click().run()
    assert not at.exception
    assert not any("No index yet" in w.value for w in at.warning)
    assert at.metric[0].label == "Articles" and at.metric[0].value == "4"


def test_empty_corpus_says_how_to_add_articles(use_settings, make_settings):
    settings = make_settings()
    use_settings(settings)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    at.button(key="build_index").click().run()

    assert any("holds no readable article" in i.value for i in at.info)


def test_thumbs_down_is_stored_with_question_answer_and_citations(app, seed_app_settings):
    ask(app, LEAP_QUESTION)

    app.feedback[0].set_value(0).run()

    [record] = read_feedback(seed_app_settings.feedback_path)
    assert record["rating"] == "down"
    assert record["question"] == LEAP_QUESTION
    assert record["mode"] == "extractive"
    assert record["citations"][0]["title"] == LEAP_TITLE
    assert PILLARS[0] in record["answer"]


def test_unreachable_llm_falls_back_to_extractive_with_a_warning(use_settings, seed_app_settings):
    from tests.ui.conftest import free_port

    # A real connection to a port nobody listens on: the same failure as an LLM server that is down.
    use_settings(seed_app_settings, QA_LLM="openai", QA_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                 QA_LLM_TIMEOUT_S="5")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    ask(at, LEAP_QUESTION)

    assert any("cannot reach the LLM" in unescape(w.value) for w in at.warning)
    assert any(PILLARS[0] in answer for answer in answers(at))
    assert LEAP_TITLE in source_titles(at)


def test_timings_are_shown_on_request(app):
    ask(app, LEAP_QUESTION)
    assert not [e for e in app.expander if e.label == "Timings"]

    app.toggle(key="show_timings").set_value(True).run()

    [timings] = [e for e in app.expander if e.label == "Timings"]
    caption = timings.get("caption")[0].value
    assert "retrieve" in caption and "total" in caption and "ms" in caption


def test_article_markup_is_escaped_in_answers_and_source_cards(use_settings, hostile_settings):
    use_settings(hostile_settings)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    ask(at, HOSTILE_QUESTION)

    bodies = [h.value for h in at.html if "<style>" not in h.value]
    rendered = "\n".join(bodies)
    assert "zorblax" in rendered
    assert "&lt;script&gt;" in rendered
    assert "<script" not in rendered and "<img" not in rendered and "onerror=\"" not in rendered
    assert "javascript:" not in " ".join(re.findall(r'href="[^"]*"', rendered))
    labels = [e.label for e in at.expander]
    assert any("Zorblax ban" in label for label in labels)
    # Markdown labels: every bracket and angle bracket of the title is backslash-escaped, so none acts.
    assert not [label for label in labels if re.search(r"(?<!\\)[<>\[\]()]", label)]


def test_evaluation_page_says_how_to_run_an_evaluation_when_none_exists(app):
    app.switch_page("pages/evaluation.py").run()

    assert any("qa eval qa --dataset tests/eval/seed_questions.jsonl" in i.value for i in app.info)


def test_evaluation_page_shows_the_latest_report(use_settings, seed_app_settings):
    reports = seed_app_settings.reports_dir
    reports.mkdir(parents=True)
    (reports / "eval-latest.json").write_text(json.dumps({
        "created": "2025-07-01T10:00:00", "dataset": "tests/eval/seed_questions.jsonl",
        "summary": {"retrieval": {"ndcg@5": 0.81, "recall@5": 0.9}, "answer_correct": 0.7, "questions": 20},
        "rows": [{"id": "q1", "question": "What does LEAP stand for?", "ndcg@5": 1.0, "cited": ["a", "b"]}],
    }))
    use_settings(seed_app_settings)
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    at.switch_page("pages/evaluation.py").run()

    assert not at.exception
    summary, rows = at.dataframe
    assert list(summary.value["metric"]) == ["retrieval.ndcg@5", "retrieval.recall@5", "answer_correct", "questions"]
    assert rows.value["question"][0] == "What does LEAP stand for?"
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_generative_answer_streams_in_and_marks_the_unsupported_sentence(use_settings, seed_app_settings,
                                                                        scripted_llm):
    url, requests = scripted_llm
    use_settings(seed_app_settings, QA_LLM="openai", QA_LLM_BASE_URL=url, QA_LLM_MODEL="scripted")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    ask(at, LEAP_QUESTION)

    [answer] = answers(at)
    assert "People and partnership development" in answer and '<span class="qa-cite">[1]</span>' in answer
    assert '<span class="qa-unsupported"' in answer and "astronauts on the Moon" in answer
    assert any("1 sentence is not supported" in c.value for c in at.caption)
    assert LEAP_TITLE in source_titles(at)
    assert requests[0]["stream"] is True and "Legal and regulatory streamlining" in json.dumps(requests[0])


def test_reruns_and_new_questions_reuse_the_one_pipeline_and_model(use_settings, seed_app_settings, monkeypatch):
    import qa.index.embed
    import qa.pipeline

    built = {"pipeline": 0, "embedder": 0}
    for name, cls in (("pipeline", qa.pipeline.Pipeline), ("embedder", qa.index.embed.Embedder)):
        original = cls.__init__

        def counting(self, *args, _name=name, _original=original, **kwargs):
            built[_name] += 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    # Settings no other test uses: the app must build one pipeline for them, then keep it.
    use_settings(seed_app_settings, QA_TOP_K="4")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    ask(at, LEAP_QUESTION)
    ask(at, "Which exchange listed stWEMIX?")
    at.run()

    assert built["pipeline"] == 1
    assert built["embedder"] <= 1  # 0 when an earlier test of this process loaded the model already


def test_invalid_setting_is_named_in_a_message(use_settings, seed_app_settings):
    use_settings(seed_app_settings, QA_TOP_K="many")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()

    assert not at.exception
    assert any("QA_TOP_K" in unescape(e.value) for e in at.error)
