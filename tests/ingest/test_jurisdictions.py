"""Jurisdictions recognised from places, regulators, laws and officials named in an article, in context."""
from qa.ingest.jurisdictions import LONG_TEXT, detect_jurisdictions, known_jurisdictions, same_place


def test_regulators_and_laws_map_to_their_jurisdiction():
    assert detect_jurisdictions("The FSTB and the SFC published rules; the HKMA agreed.") == ["Hong Kong"]
    assert detect_jurisdictions("The FSC drafted it and the Bank of Korea objected.") == ["South Korea"]
    assert detect_jurisdictions("MiCA applies; ESMA issued guidance.") == ["European Union"]
    assert detect_jurisdictions("The SEC sued; the CFTC also acted.") == ["United States"]


def test_a_securities_regulator_qualified_by_a_country_belongs_to_that_country():
    assert detect_jurisdictions("", title="SEC Thailand fines a crypto broker") == ["Thailand"]
    assert detect_jurisdictions("The Thai SEC approved two exchanges.") == ["Thailand"]
    assert detect_jurisdictions("Philippine SEC warns the public about Binance.") == ["Philippines"]
    assert detect_jurisdictions("Nigeria's SEC says digital assets are securities.") == ["Nigeria"]


def test_a_qualified_regulator_also_owns_its_unqualified_mentions():
    assert detect_jurisdictions("Thailand's SEC filed a complaint. The SEC said it would appeal.") == ["Thailand"]


def test_a_legislature_belongs_to_the_country_named_with_it():
    assert detect_jurisdictions("", title="Brazilian Senate approves crypto bill") == ["Brazil"]
    assert detect_jurisdictions("The bill now goes to the Senate of the Philippines.") == ["Philippines"]
    text = "Russia's parliament will debate the bill before the central bank replies."
    assert detect_jurisdictions(text) == ["Russia"]


def test_an_unqualified_senate_is_american_only_when_no_other_country_is_named():
    assert detect_jurisdictions("The Senate passed the stablecoin bill.") == ["United States"]
    assert detect_jurisdictions("Argentina's president sent the bill; the Senate will vote next week.") == ["Argentina"]


def test_china_on_its_own_tags_china():
    assert detect_jurisdictions("", title="China bans crypto mining again") == ["China"]
    assert detect_jurisdictions("Chinese regulators tightened rules on NFT trading.") == ["China"]


def test_hong_kong_is_its_own_jurisdiction():
    assert detect_jurisdictions("", title="Hong Kong to license retail crypto trading") == ["Hong Kong"]


def test_a_place_that_only_gives_a_company_origin_does_not_tag_the_article():
    assert detect_jurisdictions("China-based exchange Huobi listed a token.") == []
    assert detect_jurisdictions("", title="Japanese Gaming Giant Bandai Namco Establishes Fund") == []
    assert detect_jurisdictions("A report by Swiss banking giant UBS found collectors like NFTs.") == []


def test_cities_resolve_to_their_countries():
    assert detect_jurisdictions("", title="Dubai regulator issues rulebook for exchanges") == ["United Arab Emirates"]
    assert detect_jurisdictions("Seoul prosecutors raided the exchange.") == ["South Korea"]


def test_demonyms_tag_their_country():
    assert detect_jurisdictions("Korean regulators are probing the collapse.") == ["South Korea"]


def test_names_containing_a_place_are_not_that_place():
    assert detect_jurisdictions("Bank of America analysts like the token; prices are in US dollars.") == []


def test_one_passing_mention_does_not_tag_a_long_article():
    text = "A US court once ruled on custody. " + "Hong Kong's court agreed on property. " * (LONG_TEXT // 30)
    assert detect_jurisdictions(text, title="Hong Kong deems crypto property") == ["Hong Kong"]


def test_title_mention_is_enough():
    assert detect_jurisdictions("Exchanges must hold reserves.", title="Japan tightens exchange rules") == ["Japan"]


def test_acronyms_are_case_sensitive():
    assert detect_jurisdictions("sec and fsc and sfc are just letters, as is us.") == []


def test_the_thirty_most_present_jurisdictions_are_known():
    from qa.ingest.jurisdictions import MOST_PRESENT
    assert len(MOST_PRESENT) == 30 and {name for name, _ in MOST_PRESENT} <= set(known_jurisdictions())


def test_a_place_is_known_by_its_countrys_other_names():
    assert {"United States", "U.S.", "US", "America"} <= set(same_place("American"))
    assert {"United Kingdom", "UK", "Britain"} <= set(same_place("British"))
    assert "American" not in same_place("British")
    assert "American" not in same_place("American")  # the other names only


def test_a_word_that_is_no_place_has_no_other_names():
    assert same_place("Binance") == [] and same_place("SEC") == [] and same_place("american") == []
