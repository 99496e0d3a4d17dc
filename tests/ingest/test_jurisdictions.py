"""Jurisdictions recognised from places, regulators and laws named in an article."""
from qa.ingest.jurisdictions import detect_jurisdictions


def test_regulators_and_laws_map_to_their_jurisdiction():
    assert detect_jurisdictions("The FSTB and the SFC published rules; the HKMA agreed.") == ["Hong Kong"]
    assert detect_jurisdictions("The FSC drafted it and the Bank of Korea objected.") == ["South Korea"]
    assert detect_jurisdictions("MiCA applies; ESMA issued guidance.") == ["European Union"]
    assert detect_jurisdictions("The SEC sued; the CFTC also acted.") == ["United States"]


def test_one_passing_mention_does_not_tag_the_article():
    text = "A US court once ruled on custody. Hong Kong's court agreed. Hong Kong rules."
    assert detect_jurisdictions(text) == ["Hong Kong"]


def test_title_mention_is_enough():
    assert detect_jurisdictions("Exchanges must hold reserves.", title="Japan tightens exchange rules") == ["Japan"]


def test_acronyms_are_case_sensitive():
    assert detect_jurisdictions("sec and fsc and sfc are just letters, as is us.") == []
