"""Search behaviour: ranking, response codes, synonyms, explanations, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posguard.catalog.loader import Catalog
from posguard.catalog.model import Entry
from posguard.common.errors import ConfigError
from posguard.kb.analyze import Kind
from posguard.kb.evaluate import evaluate, load_cases
from posguard.kb.search import MAX_QUERY_CHARS, KnowledgeBase
from posguard.kb.segment import Segmenter
from posguard.kb.synonyms import SynonymTable

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.default()


def test_accuracy_on_the_evaluation_set(kb: KnowledgeBase) -> None:
    cases = load_cases(DATA / "kb_eval.yaml")
    assert len(cases) >= 150
    report = evaluate(kb, cases)
    misses = [(m.case.query, m.got) for m in report.misses if m.rank is None]
    figures = f"top-1 {report.top1}/{report.total}, top-3 {report.top3}/{report.total}"
    print(f"kb_eval.yaml: {figures}")
    # 228/238 and 236/238 with the 65-entry catalog; 227/238 and 235/238 once the catalog grew
    # to 72 (fleet-wide causes, defective success, refund and reversal failures compete for
    # "发卡行无响应" / "冲正没成功"-like words), unchanged by the sub-word back-off (it is
    # query-side only, for long words the catalog lacks); 230/238 and 238/238 once 4G / 信号
    # became their own concept (signal), 掉线 / 断线 mean a dropped connection (not a printer
    # offline) and 连不上网 / 信号没了 mean no network; 231/238 with "read timed out" as no
    # answer (not a connect timeout); never fewer than that
    assert report.top1 >= 231, (figures, report.misses)
    assert report.top3 >= 238, (figures, misses)


def test_accuracy_holds_on_the_held_out_set(kb: KnowledgeBase) -> None:
    report = evaluate(kb, load_cases(DATA / "kb_eval_holdout.yaml"))
    assert report.total >= 50
    figures = f"top-1 {report.top1}/{report.total}, top-3 {report.top3}/{report.total}"
    print(f"kb_eval_holdout.yaml: {figures}")
    # 47/52 and 51/52 with the 65-entry catalog; 46/52 with 72 entries ("系统升级没成功": jieba
    # keeps 系统升级 as one word, so only 成功 matched); 47/52 and 52/52 once a long word the
    # catalog never uses backs off to its sub-words (升级 -> ~update); never fewer than that
    assert report.top1 >= 47, figures
    assert report.top3 >= 52, figures


def test_a_long_word_the_catalog_lacks_backs_off_to_its_parts(kb: KnowledgeBase) -> None:
    # jieba keeps 系统升级 whole; the catalog says 升级 (软件升级失败)
    assert Segmenter.shared().words("系统升级没成功")[0] == "系统升级"
    result = kb.search("系统升级没成功")
    assert result.codes[0] == "SW.UPDATE_FAILED", result.codes
    kinds = {m.kind for m in result.hits[0].matches}
    assert Kind.SUBWORD in kinds, result.hits[0].matches
    # the explanation says a part of the word matched, not the whole word
    assert "系统升级 ⊃ 升级" in result.hits[0].why("zh"), result.hits[0].why("zh")


def test_a_long_word_the_catalog_uses_keeps_its_parts_out(kb: KnowledgeBase) -> None:
    # 电池电量 is in the catalog (DEV.LOW_BATTERY): the whole word decides, its parts add nothing
    assert "电池电量" in Segmenter.shared().words("电池电量不够了")
    assert kb.index.postings("电池电量")
    assert Segmenter.shared().subwords("电池电量")
    for hit in kb.search("电池电量不够了").hits:
        assert all(m.kind is not Kind.SUBWORD for m in hit.matches), hit.matches


def test_sub_words_are_dictionary_words_inside_the_word() -> None:
    seg = Segmenter.shared()
    assert seg.subwords("系统升级") == ["系统", "升级"]
    assert seg.subwords("升级") == []  # too short to hold parts
    assert seg.subwords("update") == []


@pytest.mark.parametrize("query", ["小票打不出来", "receipt won't print", "打印不了"])
def test_a_vague_complaint_lands_on_the_most_common_cause_first(
    kb: KnowledgeBase, query: str
) -> None:
    codes = kb.search(query, limit=5).codes
    assert codes[:2] == ["PRN.PAPER_OUT", "PRN.OFFLINE"], codes
    if "PRN.QUEUE_STUCK" in codes:
        assert codes.index("PRN.QUEUE_STUCK") > 1


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("打印头太烫了", "PRN.OVERHEAT"),
        ("补打也打不出来", "PRN.QUEUE_STUCK"),
        ("小票上出现红线", "PRN.PAPER_LOW"),
    ],
)
def test_a_specific_word_still_decides_over_the_prior(
    kb: KnowledgeBase, query: str, code: str
) -> None:
    assert kb.search(query).codes[0] == code


def test_a_fleets_counts_replace_the_catalog_prior() -> None:
    from posguard.kb.priors import priors_from_counts

    # a fleet whose printers mostly jam their queue: the same vague complaint follows it
    fleet = KnowledgeBase(priors=priors_from_counts({"PRN.QUEUE_STUCK": 500, "PRN.PAPER_OUT": 3}))
    assert fleet.search("小票打不出来").codes[0] == "PRN.QUEUE_STUCK"


def test_the_prior_names_only_catalog_codes_with_sane_weights(kb: KnowledgeBase) -> None:
    from posguard.kb.priors import PRIORS_FILE, load_priors

    priors = load_priors(PRIORS_FILE, codes=kb.catalog)
    assert priors["PRN.PAPER_OUT"] > priors["PRN.QUEUE_STUCK"]
    assert priors["PRN.OFFLINE"] > priors["PRN.QUEUE_STUCK"]


def test_a_bad_prior_file_names_the_code(tmp_path: Path, kb: KnowledgeBase) -> None:
    from posguard.kb.priors import load_priors

    bad = tmp_path / "priors.yaml"
    bad.write_text("PRN.PAPER_OUT: 8\nPRN.NOPE: 1\n")
    with pytest.raises(ConfigError, match=r"'PRN\.NOPE' is not a catalog code"):
        load_priors(bad, codes=kb.catalog)
    bad.write_text("PRN.PAPER_OUT: lots\n")
    with pytest.raises(ConfigError, match=r"PRN\.PAPER_OUT: weight must be a number"):
        load_priors(bad)


def test_evaluation_labels_are_catalog_codes(kb: KnowledgeBase) -> None:
    for name in ("kb_eval.yaml", "kb_eval_holdout.yaml"):
        for case in load_cases(DATA / name):
            assert set(case.codes) <= set(kb.catalog), case


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("刷卡一直显示连接中", "NET.CONNECT_TIMEOUT"),
        ("打印机 offline", "PRN.OFFLINE"),
        ("小票机没纸", "PRN.PAPER_OUT"),
        ("屏幕卡死了", "DEV.FREEZE"),
        ("insufficient funds", "TXN.INSUFFICIENT_FUNDS"),
    ],
)
def test_the_right_runbook_comes_first(kb: KnowledgeBase, query: str, code: str) -> None:
    assert kb.search(query).codes[0] == code


@pytest.mark.parametrize(
    ("query", "rc", "code"),
    [
        ("51", "51", "TXN.INSUFFICIENT_FUNDS"),
        ("返回码A0", "A0", "TXN.MAC_ERROR"),
        ("返回码05", "05", "TXN.DO_NOT_HONOR"),
        ("rc 96", "96", "TXN.HOST_ERROR"),
        ("error 96", "96", "TXN.HOST_ERROR"),
        ("ａ０", "A0", "TXN.MAC_ERROR"),  # full-width, as a Chinese IME types it
    ],
)
def test_bare_response_codes_rank_their_entry_first(
    kb: KnowledgeBase, query: str, rc: str, code: str
) -> None:
    hit = kb.search(query).hits[0]
    assert (hit.code, hit.response_code) == (code, rc)
    assert f"response code {rc}" in hit.why("en")
    assert hit.to_dict()["why"]["response_code"] == rc


def test_a_number_in_a_sentence_is_not_taken_for_a_code(kb: KnowledgeBase) -> None:
    # "12" is also response code 12 (invalid transaction); here it is a time of day.
    result = kb.search("今天12点以后一直连不上")
    assert result.codes[0].startswith("NET.")


def test_a_typed_catalog_code_ranks_first(kb: KnowledgeBase) -> None:
    hit = kb.search("what is net.dns_failure").hits[0]
    assert hit.code == "NET.DNS_FAILURE"
    assert hit.code_typed


def test_synonyms_are_reported_with_their_forms(kb: KnowledgeBase) -> None:
    hit = kb.search("收据打不了").hits[0]
    syn = next(m for m in hit.matches if m.surface == "收据")
    assert syn.kind is Kind.SYNONYM
    assert syn.term == "~receipt"
    assert "小票" in syn.synonyms
    assert syn.fields  # and where it matched


def test_english_typos_are_corrected_and_said_so(kb: KnowledgeBase) -> None:
    hit = kb.search("conection refused").hits[0]
    assert hit.code == "NET.CONNECT_REFUSED"
    assert any(m.kind is Kind.FUZZY and "conection" in m.surface for m in hit.matches)
    assert kb.search("printer ofline").codes[0] == "PRN.OFFLINE"


def test_result_json_has_code_and_score_best_first(kb: KnowledgeBase) -> None:
    result = kb.search("打印机没纸了", limit=5)
    rows = json.loads(json.dumps(result.to_dict()))["hits"]
    assert 1 <= len(rows) <= 5
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all({"code", "score", "why"} <= r.keys() for r in rows)


def test_limit_is_clamped(kb: KnowledgeBase) -> None:
    assert len(kb.search("打印机", limit=0).hits) == 1
    assert len(kb.search("打印机", limit=10_000).hits) <= 50


def _tiny_catalog() -> Catalog:
    def entry(code: str, title: str, symptom: str, step: str) -> Entry:
        return Entry.model_validate(
            {
                "code": code,
                "category": "hardware",
                "severity": "minor",
                "audience": ["merchant"],
                "auto": {"zh": "无", "en": "nothing"},
                "title": {"zh": title, "en": title},
                "symptoms": {"zh": [symptom], "en": [symptom]},
                "steps": [{"zh": step, "en": step}],
            }
        )

    return Catalog(
        [
            entry("PRN.A1", "cover open", "lid up", "close the cover and check the paper"),
            entry("PRN.B1", "paper out", "no roll", "load a roll"),
        ]
    )


def test_title_outweighs_steps() -> None:
    kb = KnowledgeBase(_tiny_catalog())
    assert kb.search("paper").codes == ["PRN.B1", "PRN.A1"]
    assert kb.search("cover").codes[0] == "PRN.A1"


def test_indexes_do_not_share_spelling_vocabularies(kb: KnowledgeBase) -> None:
    KnowledgeBase(_tiny_catalog())  # built after the default one, on the same analyser
    assert kb.search("printer ofline").codes[0] == "PRN.OFFLINE"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "empty query"),
        ("   \t\n  ", "empty query"),
        ("\x00\x01\x02\x7f", "empty query"),
        ("!!! ??? ... ###", "no searchable words in the query"),
    ],
)
def test_unusable_queries_get_a_reason(kb: KnowledgeBase, query: str, reason: str) -> None:
    result = kb.search(query)
    assert result.hits == ()
    assert result.reason == reason


def test_huge_query_is_cut_with_a_note(kb: KnowledgeBase) -> None:
    query = "打印机没纸了 " + "x" * 100_000
    result = kb.search(query)
    assert result.codes[0] == "PRN.PAPER_OUT"
    assert any(str(MAX_QUERY_CHARS) in n for n in result.notes)
    assert len(result.query) <= 201  # echoed query is shortened too


@pytest.mark.parametrize(
    "query",
    [
        "<script>alert('x')</script>",
        "'; DROP TABLE entries; --",
        "打印机<img src=x onerror=alert(1)>没纸",
        bytes(range(256)).decode("latin-1"),
        "\ud7ff\ue000\U0010ffff" * 50,
        "{{7*7}} ${jndi:ldap://x} %s%s%n",
    ],
)
def test_hostile_queries_are_just_text(kb: KnowledgeBase, query: str) -> None:
    result = kb.search(query)
    json.dumps(result.to_dict(), ensure_ascii=False)
    assert result.hits or result.reason


def test_lone_surrogates_are_replaced_so_results_can_be_sent(kb: KnowledgeBase) -> None:
    result = kb.search("打印机没纸\ud800\udcff")
    assert result.codes[0] == "PRN.PAPER_OUT"
    assert any("not valid Unicode" in n for n in result.notes)
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")


def test_injection_around_words_still_finds_them(kb: KnowledgeBase) -> None:
    assert kb.search("打印机<img src=x onerror=alert(1)>没纸").codes[0] == "PRN.PAPER_OUT"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec=None, categories=None), max_size=300))
def test_any_text_gives_a_well_formed_answer(query: str) -> None:
    kb = KnowledgeBase.default()
    result = kb.search(query, limit=3)
    assert len(result.hits) <= 3
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert (result.reason is None) == bool(result.hits)
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_form_in_two_synonym_groups_is_refused() -> None:
    with pytest.raises(ConfigError, match="'收据' is in both"):
        SynonymTable.from_groups(Segmenter.shared(), {"a": ["收据"], "b": ["收据", "x"]})
