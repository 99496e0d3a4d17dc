"""Recognises which jurisdictions an article is about from the places, regulators, laws and officials it names.

Used at load time so every chunk carries its article's jurisdictions for the search filter and its source card.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# The jurisdictions most present in the cryptonews benchmark (7,524 headlines with ledes), as articles this
# recogniser tags; recount with `python -m qa.ingest.jurisdictions ../shared/datasets/cryptonews/corpus.jsonl`.
# Kept as data so that the coverage claim is checked against the tables below (tests/test_jurisdictions.py).
MOST_PRESENT: tuple[tuple[str, int], ...] = (
    ("United States", 740), ("Russia", 279), ("Ukraine", 169), ("China", 110), ("South Korea", 101),
    ("El Salvador", 97), ("European Union", 95), ("India", 85), ("United Kingdom", 76), ("Canada", 63),
    ("Japan", 55), ("Australia", 44), ("Singapore", 42), ("Brazil", 37), ("Switzerland", 35), ("France", 30),
    ("United Arab Emirates", 25), ("Kazakhstan", 24), ("North Korea", 24), ("Germany", 23), ("Argentina", 21),
    ("Central African Republic", 19), ("Spain", 18), ("Mexico", 17), ("Thailand", 17), ("Hong Kong", 14),
    ("Portugal", 14), ("Turkey", 14), ("Netherlands", 13), ("Indonesia", 12),
)

# Names that belong to one jurisdiction, written as they appear in news (proper nouns and acronyms are matched
# case-sensitively: "sec", "us" and "polish" are ordinary words). Places (countries, demonyms, cities, states)
# and authorities (regulators, central banks, laws, officials) are kept apart because only a place can be a
# mere company origin ("Swiss banking giant UBS"); an authority always acts for its jurisdiction.
_PLACES: dict[str, str] = {
    "United States": "United States|U.S.|US|USA|America|American|Americans|Washington|Washington D.C.|"
                     "New York|NYC|Miami|Texas|California|Florida|Wyoming|Colorado|Nevada|Arizona|Ohio|Illinois|"
                     "Chicago|San Francisco|Los Angeles|Silicon Valley|Austin|Kentucky|Tennessee|Georgia state|"
                     "New Jersey|Massachusetts|Oklahoma|Louisiana|Montana|Utah|Connecticut|Pennsylvania|"
                     "Virginia|North Carolina|Missouri|Alabama|Oregon|Washington state|Fort Worth|"
                     "New Hampshire|Delaware|Minnesota|Michigan|Wisconsin|Arkansas|Kansas|Nebraska|Rhode Island|Iowa|"
                     "Hawaii|Alaska|Idaho|Indiana|Maryland|Mississippi|New Mexico|North Dakota|South Dakota|"
                     "South Carolina|West Virginia|Vermont|Denver|Seattle|Boston|Atlanta|Dallas|Houston|"
                     "Philadelphia|Detroit|Las Vegas|Republican|Republicans|Democrat|Democrats",
    "Puerto Rico": "Puerto Rico|Puerto Rican",
    "United Kingdom": "United Kingdom|UK|U.K.|Britain|British|Brits|Great Britain|England|Scotland|Scottish|"
                      "Wales|Welsh|Northern Ireland|London",
    "European Union": "European Union|EU|E.U.|Eurozone|eurozone|Brussels",
    "China": "China|Chinese|PRC|Beijing|Shanghai|Shenzhen|Hangzhou|Guangzhou|Sichuan|Xinjiang|Inner Mongolia|"
             "Hainan|Chongqing|Wuhan",
    "Hong Kong": "Hong Kong|Hongkong|HK|HK$",
    "Taiwan": "Taiwan|Taiwanese|Taipei",
    "Japan": "Japan|Japanese|Tokyo|Osaka|Yokohama|Kyoto",
    "South Korea": "South Korea|South Korean|South Koreans|S. Korea|S. Korean|S Korea|S Korean|Korea|Korean|"
                   "Koreans|Republic of Korea|Seoul|Busan|Incheon|Jeju",
    "North Korea": "North Korea|North Korean|North Koreans|DPRK|Pyongyang",
    "India": "India|Indian|Indians|Mumbai|New Delhi|Delhi|Bengaluru|Bangalore|Kerala|Karnataka|Tamil Nadu",
    "Singapore": "Singapore|Singaporean",
    "Thailand": "Thailand|Thai|Bangkok|Phuket",
    "Philippines": "Philippines|Philippine|Filipino|Filipinos|Manila",
    "Indonesia": "Indonesia|Indonesian|Jakarta|Bali",
    "Malaysia": "Malaysia|Malaysian|Kuala Lumpur|Sarawak",
    "Vietnam": "Vietnam|Viet Nam|Vietnamese|Hanoi|Ho Chi Minh City",
    "Cambodia": "Cambodia|Cambodian|Phnom Penh",
    "Laos": "Laos|Lao PDR|Laotian|Vientiane",
    "Myanmar": "Myanmar|Burma|Yangon|Naypyidaw",
    "Bangladesh": "Bangladesh|Bangladeshi|Dhaka",
    "Pakistan": "Pakistan|Pakistani|Karachi|Islamabad",
    "Sri Lanka": "Sri Lanka|Sri Lankan|Colombo",
    "Nepal": "Nepal|Nepalese|Kathmandu",
    "Mongolia": "Mongolia|Mongolian|Ulaanbaatar",
    "Kazakhstan": "Kazakhstan|Kazakh|Kazakhstani|Almaty|Astana|Nur-Sultan",
    "Uzbekistan": "Uzbekistan|Uzbek|Tashkent",
    "Kyrgyzstan": "Kyrgyzstan|Kyrgyz|Bishkek",
    "Tajikistan": "Tajikistan|Dushanbe",
    "Australia": "Australia|Australian|Australians|Aussie|Sydney|Melbourne|Canberra|Queensland|New South Wales|"
                 "Brisbane|Perth",
    "New Zealand": "New Zealand|Auckland|Wellington",
    "Canada": "Canada|Canadian|Canadians|Toronto|Vancouver|Ottawa|Montreal|Ontario|Quebec|Québec|Alberta|"
              "British Columbia|Manitoba",
    "Mexico": "Mexico|Mexican|Mexico City",
    "Brazil": "Brazil|Brazilian|Brasil|São Paulo|Sao Paulo|Rio de Janeiro",
    "Argentina": "Argentina|Argentine|Argentinian|Argentinians|Buenos Aires",
    "El Salvador": "El Salvador|Salvadoran|Salvadorans|Salvadorian|San Salvador",
    "Venezuela": "Venezuela|Venezuelan|Caracas",
    "Colombia": "Colombia|Colombian|Bogotá|Bogota",
    "Chile": "Chile|Chilean",
    "Peru": "Peru|Peruvian|Lima",
    "Ecuador": "Ecuador|Ecuadorian|Quito",
    "Bolivia": "Bolivia|Bolivian",
    "Paraguay": "Paraguay|Paraguayan|Asunción|Asuncion",
    "Uruguay": "Uruguay|Uruguayan|Montevideo",
    "Panama": "Panama|Panamanian|Panama City",
    "Costa Rica": "Costa Rica|Costa Rican",
    "Honduras": "Honduras|Honduran|Próspera|Prospera|Roatán|Roatan|Tegucigalpa",
    "Guatemala": "Guatemala|Guatemalan|Guatemala City",
    "Cuba": "Cuba|Cuban|Havana",
    "Russia": "Russia|Russian|Russians|Moscow|St. Petersburg|Saint Petersburg|Kremlin|Siberia|Siberian",
    "Ukraine": "Ukraine|Ukrainian|Ukrainians|Kyiv|Kiev",
    "Belarus": "Belarus|Belarusian|Minsk",
    "Georgia": "Tbilisi",
    "Turkey": "Turkey|Türkiye|Turkiye|Turkish|Istanbul|Ankara",
    "Israel": "Israel|Israeli|Tel Aviv|Jerusalem",
    "Iran": "Iran|Iranian|Iranians|Tehran",
    "Iraq": "Iraq|Iraqi|Baghdad",
    "Lebanon": "Lebanon|Lebanese|Beirut",
    "United Arab Emirates": "United Arab Emirates|UAE|U.A.E.|Emirati|Dubai|Abu Dhabi|Ras Al Khaimah",
    "Saudi Arabia": "Saudi Arabia|Saudi|Riyadh|Jeddah",
    "Qatar": "Qatar|Qatari|Doha",
    "Bahrain": "Bahrain|Bahraini|Manama",
    "Kuwait": "Kuwait|Kuwaiti|Kuwait City",
    "Oman": "Oman|Omani|Muscat",
    "Egypt": "Egypt|Egyptian|Cairo",
    "Morocco": "Morocco|Moroccan|Rabat|Casablanca",
    "Tunisia": "Tunisia|Tunisian|Tunis",
    "Nigeria": "Nigeria|Nigerian|Nigerians|Lagos|Abuja",
    "Ghana": "Ghana|Ghanaian|Accra",
    "Kenya": "Kenya|Kenyan|Kenyans|Nairobi",
    "Ethiopia": "Ethiopia|Ethiopian|Addis Ababa",
    "Uganda": "Uganda|Ugandan|Kampala",
    "Tanzania": "Tanzania|Tanzanian|Dar es Salaam|Zanzibar",
    "Rwanda": "Rwanda|Rwandan|Kigali",
    "Zimbabwe": "Zimbabwe|Zimbabwean|Harare",
    "Zambia": "Zambia|Zambian|Lusaka",
    "Namibia": "Namibia|Namibian|Windhoek",
    "Cameroon": "Cameroon|Cameroonian|Yaoundé|Douala",
    "South Africa": "South Africa|South African|South Africans|Johannesburg|Cape Town|Pretoria",
    "Central African Republic": "Central African Republic|Central African nation|CAR|Bangui",
    "Switzerland": "Switzerland|Swiss|Zurich|Zürich|Geneva|Zug|Crypto Valley|Lugano|Davos|Bern",
    "Liechtenstein": "Liechtenstein",
    "Germany": "Germany|German|Germans|Berlin|Frankfurt|Munich|Hamburg|Bavaria",
    "France": "France|French|Paris",
    "Italy": "Italy|Italian|Italians|Rome|Milan",
    "Spain": "Spain|Spanish|Spaniards|Madrid|Barcelona",
    "Portugal": "Portugal|Portuguese|Lisbon|Madeira|Azores",
    "Netherlands": "Netherlands|Dutch|Holland|Amsterdam|The Hague|Rotterdam",
    "Belgium": "Belgium|Belgian|Antwerp",
    "Luxembourg": "Luxembourg",
    "Austria": "Austria|Austrian|Vienna",
    "Ireland": "Ireland|Irish|Dublin",
    "Malta": "Malta|Maltese|Valletta",
    "Cyprus": "Cyprus|Cypriot|Nicosia|Limassol",
    "Greece": "Greece|Greek|Athens",
    "Denmark": "Denmark|Danish|Copenhagen",
    "Sweden": "Sweden|Swedish|Stockholm",
    "Norway": "Norway|Norwegian|Oslo",
    "Finland": "Finland|Finnish|Helsinki",
    "Iceland": "Iceland|Icelandic|Reykjavik|Reykjavík",
    "Estonia": "Estonia|Estonian|Tallinn",
    "Latvia": "Latvia|Latvian|Riga|Riga",
    "Lithuania": "Lithuania|Lithuanian|Vilnius",
    "Poland": "Poland|Polish|Warsaw",
    "Czech Republic": "Czech Republic|Czechia|Czech|Prague",
    "Slovakia": "Slovakia|Slovak|Bratislava",
    "Slovenia": "Slovenia|Slovenian|Ljubljana",
    "Hungary": "Hungary|Hungarian|Budapest|Budapest",
    "Romania": "Romania|Romanian|Bucharest",
    "Bulgaria": "Bulgaria|Bulgarian",
    "Croatia": "Croatia|Croatian|Zagreb",
    "Serbia": "Serbia|Serbian|Belgrade",
    "Monaco": "Monaco",
    "Gibraltar": "Gibraltar",
    "Bahamas": "Bahamas|Bahamian|Nassau",
    "Bermuda": "Bermuda",
    "Cayman Islands": "Cayman Islands|Cayman",
    "British Virgin Islands": "British Virgin Islands|BVI",
    "Jamaica": "Jamaica|Jamaican",
    "Marshall Islands": "Marshall Islands",
    "Tonga": "Tonga",
    "Palau": "Palau",
    "Afghanistan": "Afghanistan|Afghan|Afghans|Taliban|Kabul",
    "DR Congo": "Democratic Republic of the Congo|Democratic Republic of Congo|DRC",
    "Syria": "Syria|Syrian|Damascus",
    "Palestine": "Palestine|Palestinian|Gaza|Ramallah",
    # Less present, so a name or two each: news about them names them.
    "Bosnia and Herzegovina": "Bosnia and Herzegovina|Bosnia|Bosnian|Sarajevo",
    "Albania": "Albania|Albanian|Tirana",
    "North Macedonia": "North Macedonia|Macedonia|Skopje",
    "Montenegro": "Montenegro|Montenegrin",
    "Moldova": "Moldova|Moldovan|Chisinau",
    "Armenia": "Armenia|Armenian|Yerevan",
    "Azerbaijan": "Azerbaijan|Azerbaijani|Baku",
    "Turkmenistan": "Turkmenistan|Ashgabat",
    "Brunei": "Brunei",
    "Papua New Guinea": "Papua New Guinea",
    "Fiji": "Fiji|Fijian",
    "Vanuatu": "Vanuatu",
    "Samoa": "Samoa",
    "Mauritius": "Mauritius",
    "Seychelles": "Seychelles",
    "Senegal": "Senegal|Senegalese|Dakar",
    "Ivory Coast": "Ivory Coast|Côte d'Ivoire|Côte d’Ivoire|Ivorian|Abidjan",
    "Mali": "Mali|Malian|Bamako",
    "Niger": "Niger|Niamey",
    "Burkina Faso": "Burkina Faso",
    "Togo": "Togo|Togolese|Lomé",
    "Sierra Leone": "Sierra Leone",
    "Liberia": "Liberia|Liberian|Monrovia",
    "Gambia": "Gambia|Gambian",
    "Botswana": "Botswana|Gaborone",
    "Malawi": "Malawi|Malawian",
    "Mozambique": "Mozambique|Mozambican|Maputo",
    "Angola": "Angola|Angolan|Luanda",
    "Sudan": "Sudan|Sudanese|Khartoum",
    "South Sudan": "South Sudan",
    "Libya": "Libya|Libyan|Tripoli",
    "Algeria": "Algeria|Algerian|Algiers",
    "Yemen": "Yemen|Yemeni",
    "Dominican Republic": "Dominican Republic|Santo Domingo",
    "Haiti": "Haiti|Haitian|Port-au-Prince",
    "Nicaragua": "Nicaragua|Nicaraguan|Managua",
    "Belize": "Belize",
    "Trinidad and Tobago": "Trinidad and Tobago|Trinidad",
    "Barbados": "Barbados",
    "Antigua and Barbuda": "Antigua and Barbuda|Antigua",
    "Saint Kitts and Nevis": "Saint Kitts and Nevis|St Kitts and Nevis|St. Kitts and Nevis",
    "Curaçao": "Curaçao|Curacao",
    "Aruba": "Aruba",
}
_AUTHORITIES: dict[str, str] = {
    "United States": "CFTC|Commodity Futures Trading Commission|OCC|Office of the Comptroller of the Currency|"
                     "FinCEN|IRS|Internal Revenue Service|FDIC|DOJ|OFAC|FBI|NYDFS|FINRA|Fed|Federal Reserve|"
                     "FOMC|White House|Capitol Hill|GENIUS Act|Lummis-Gillibrand|Gensler|Yellen|Jerome Powell|Powell|"
                     "Biden|Lummis|Gillibrand|Elizabeth Warren|Hester Peirce|Toomey|Brainard|Maxine Waters|"
                     "Brad Sherman|Ted Cruz|Rostin Behnam|Eric Adams|Francis Suarez|Pentagon|Homeland Security|"
                     "Secret Service|CISA|Department of Labor|Labor Department|Federal Trade Commission|FTC|"
                     "Department of the Treasury|Treasury Department|Treasury Secretary|Justice Department|"
                     "Department of Justice|House Financial Services Committee|Senate Banking Committee",
    "United Kingdom": "FCA|Financial Conduct Authority|HMRC|Bank of England|BoE|HM Treasury|Rishi Sunak|Sunak|"
                      "Boris Johnson|Downing Street|Westminster",
    "European Union": "MiCA|MiCAR|Markets in Crypto-Assets|European Commission|European Parliament|"
                      "European Council|Council of the EU|ECB|European Central Bank|ESMA|EBA|AMLA|Lagarde|"
                      "digital euro|Digital Euro|TFR|Transfer of Funds Regulation|AMLD5|AMLD6",
    "China": "PBoC|PBOC|People's Bank of China|People’s Bank of China|CSRC|Xi Jinping|e-CNY|digital yuan|"
             "Digital Yuan|CCP|Chinese Communist Party",
    "Hong Kong": "SFC|Securities and Futures Commission|HKMA|Hong Kong Monetary Authority|FSTB|"
                 "Financial Services and the Treasury Bureau|HKEX|Cyberport|John Lee",
    "Taiwan": "Financial Supervisory Commission",
    "Japan": "JFSA|BOJ|BoJ|Bank of Japan|JVCEA|Kishida|Financial Services Agency",
    "South Korea": "FSC|FSS|KoFIU|Bank of Korea|Financial Services Commission|Financial Supervisory Service|"
                   "Digital Asset Basic Act|Virtual Asset User Protection Act|National Assembly of Korea|"
                   "Yoon Suk-yeol|Yoon Suk Yeol|Lee Jae-myung|Lee Jae Myung",
        "India": "RBI|Reserve Bank of India|SEBI|Sitharaman|Narendra Modi|Modi|digital rupee|Digital Rupee|"
             "Lok Sabha|Rajya Sabha",
    "Singapore": "MAS|Monetary Authority of Singapore",
    "Thailand": "Bank of Thailand|BoT",
    "Philippines": "Bangko Sentral ng Pilipinas|BSP",
    "Indonesia": "Bappebti|OJK|Bank Indonesia",
    "Malaysia": "Bank Negara",
    "Vietnam": "State Bank of Vietnam",
    "Pakistan": "SECP|State Bank of Pakistan",
    "Australia": "Australian Securities and Investments Commission|AUSTRAC|Reserve Bank of Australia|RBA|ACCC",
    "Canada": "OSC|Ontario Securities Commission|FINTRAC|Bank of Canada|RCMP|Royal Canadian Mounted Police|"
              "Trudeau|CSA",
    "Brazil": "CVM|Banco Central do Brasil|Bolsonaro|Lula",
    "Mexico": "Banxico|Banco de México",
    "El Salvador": "Bukele|Nayib Bukele|Chivo|Bitcoin City|Bitcoin Beach|El Zonte",
    "Venezuela": "Maduro|Sunacrip",
    "Russia": "Bank of Russia|Putin|Duma|State Duma|Nabiullina|Rosfinmonitoring|Minfin",
    "Ukraine": "Zelensky|Zelenskyy|Fedorov|Verkhovna Rada",
    "Turkey": "Erdogan|Erdoğan|CBRT",
    "United Arab Emirates": "VARA|ADGM|DFSA|DMCC|DIFC",
    "Nigeria": "CBN|Central Bank of Nigeria|eNaira",
    "South Africa": "SARB|FSCA",
    "Switzerland": "FINMA|SNB|Swiss National Bank",
    "Germany": "BaFin|Bundesbank|Bundestag|Scholz",
    "France": "Banque de France|Macron",
    "Italy": "Consob|CONSOB|Bank of Italy",
    "Spain": "CNMV|Bank of Spain",
    "Netherlands": "DNB|De Nederlandsche Bank",
    "Ireland": "Central Bank of Ireland",
    "Malta": "MFSA",
    "Sweden": "Riksbank|e-krona",
    "Gibraltar": "GFSC",
    "Central African Republic": "Touadéra|Touadera|Sango",
}
# Institutions every country has: they say which country they belong to only when qualified ("Thai SEC",
# "SEC Thailand", "Nigeria's central bank", "Philippine Senate", "the central bank of Brazil"). Unqualified,
# the SEC-like ones default to the United States (what an unqualified "SEC" means in crypto news) unless the
# article qualifies the same institution elsewhere; the legislature-like ones only when no other country is
# named; the rest add nothing on their own.
_SEC_LIKE = "SEC|Securities and Exchange Commission|Securities Exchange Commission"
_US_LEGISLATURE_LIKE = ("Senate|Congress|House of Representatives|Senator|Senators|Sen.|Rep.|Congressman|"
                        "Congresswoman|congressman|congresswoman|Congressional|congressional|Treasury|senator|"
                        "senators")
_GENERIC = ("central bank|Central Bank|central banks|finance ministry|Finance Ministry|Ministry of Finance|"
            "finance minister|Finance Minister|Justice Ministry|Ministry of Justice|parliament|Parliament|"
            "government|Government|regulator|regulators|Regulator|Regulators|watchdog|Watchdog|authorities|"
            "Authorities|president|President|prime minister|Prime Minister|PM|police|Police|court|Court|"
            "tax authority|Tax Authority|tax authorities|tax agency|lawmaker|Lawmaker|legislature|ministry|"
            "Ministry|minister|Minister|officials|Officials|financial regulator|securities regulator|"
            "Securities Commission|securities commission|Financial Services Authority|FSA|FIU|Supreme Court|"
            "lawmakers|Lawmakers|legislators|Legislators|"
            "Financial Intelligence Unit|prosecutors|Prosecutors|National Assembly|bill|Bill|law|Law|"
            "legislation|Legislation|ban|Ban|bans|Bans|state|State")
# Names that contain a place but are not about it (a bank, a currency, a newspaper, a region); matching them
# as a whole stops the place inside from being read.
_NOT_JURISDICTIONS = ("Bank of America|BofA|Latin America|Latin American|Latin Americans|South America|South American|"
                      "South Americans|North America|North American|North Americans|Central America|Central American|"
                      "Central Americans|Americas|American Express|"
                      "US dollar|US dollars|U.S. dollar|U.S. dollars|US Dollar|American dollar|USD|"
                      "Washington Post|New York Times|New York Post|Wall Street Journal|New York Stock Exchange|"
                      "US Treasuries|US treasuries|U.S. Treasuries|U.S. treasuries|Treasury bonds|Treasury bills|"
                      "Treasury yields|"
                      "Bank of Central African States|Central African States|Binance US|Binance.US|FTX US|"
                      "FTX.US|Bitstamp USA|Warren Buffett|Deutsche Bank|Deutsche Börse|Swiss franc|"
                      "Indian Ocean|Indian Premier League|Africa|African|Europe|European|Asia|Asian|Middle East|"
                      "Korea Herald|Korea Times|Korea JoongAng Daily|Japan Times|South China Morning Post|"
                      "China Daily|Global Times|Dubai Multi Commodities Centre|"
                      "Paris Hilton|Mark Cuban|Georgia|Jersey|Santiago|Muay Thai|"
                      # Football clubs named after their city sign crypto sponsorships, which are not about the city.
                      "FC Barcelona|Barcelona FC|Real Madrid|Atletico Madrid|Atlético Madrid|AC Milan|Inter Milan|"
                      "Paris Saint-Germain|Bayern Munich|Manchester City")


def _alternatives(names: str) -> list[str]:
    return [name for name in names.split("|") if name]


def _trie_pattern(words: list[str]) -> str:
    """One alternation as a character trie: Python's regex engine tries the branches of a flat alternation one
    by one at every position; over the cryptonews texts the trie finds the same ~940 names 8 times faster."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Longer names win: the engine tries the continuation first and falls back to the shorter name.
        return f"(?:{body})?" if ends else body

    return emit(trie)


@dataclass(frozen=True)
class _Kind:
    jurisdiction: str | None
    role: str  # "place", "authority", "sec", "legislature", "generic" or "none"


def _written_forms(name: str) -> set[str]:
    """The name as written in a sentence and in a headline, where "Bank of Japan" becomes "Bank Of Japan"."""
    headline = re.sub(r"(?<= )(of|the|and|for|in|on)(?= )", lambda m: m.group(1).capitalize(), name)
    return {name, headline}


def _table() -> dict[str, _Kind]:
    table: dict[str, _Kind] = {}
    for role, names in (("none", _NOT_JURISDICTIONS), ("generic", _GENERIC), ("legislature", _US_LEGISLATURE_LIKE),
                        ("sec", _SEC_LIKE)):
        for name in _alternatives(names):
            for form in _written_forms(name):
                table[form] = _Kind(None, role)
    for role, source in (("place", _PLACES), ("authority", _AUTHORITIES)):
        for jurisdiction, names in source.items():
            for name in _alternatives(names):
                for form in _written_forms(name):
                    table.setdefault(form, _Kind(jurisdiction, role))
    return table


_KINDS = _table()
# Every name of each place, for `same_place`.
_PLACE_NAMES = {jurisdiction: _alternatives(names) for jurisdiction, names in _PLACES.items()}
# A name must stand alone: not inside a longer word, and not part of a ticker or amount ("USDT", "HK$10").
_MENTION = re.compile(r"(?<![\w$.@#/])(" + _trie_pattern(sorted(_KINDS)) + r")(?![\w$@]|\.\w)")

# What may stand between a place and the institution it qualifies: "Thai SEC", "Nigeria's SEC", "the Philippine
# Senate", "South Korea's top financial regulator"; and after the institution: "SEC Thailand", "Central Bank of
# Nigeria", "regulators in Japan".
_QUALIFIER_BEFORE = re.compile(r"(?:'s|’s|s'|’)?(?:\s+(?:[a-z][\w-]*|[A-Z][a-z]+))?(?:\s+[a-z][\w-]*)?\s+$|-$")
_QUALIFIER_AFTER = re.compile(r"(?:\s+(?i:of|in|for|from)(?:\s+(?i:the))?)?\s+|\s*\(\s*")

# A place that only gives a company's origin is not evidence: "China-based", "based in Singapore", "Swiss banking
# giant UBS", "a Japanese e-commerce site".
_ORIGIN_AFTER = re.compile(
    r"(?i:-based|-headquartered|-born|-founded|-owned|-registered|-listed|\s+based"
    r"|(?:\s+(?!(?:to|will|would|is|are|was|were|has|have|had|plans?|says?|said|the|a|an|and|or|of|for|with|as|"
    r"on|in|by|its|their|may|could|should|can|must|wants?|asks?|tells?|urges?|orders?|bans?|moves?|via|through|"
    r"after|amid|at|from|into|over|under|while|when|despite|following|against|to|about|but|if|than)\b)"
    # A word ending in "s" between the place and the noun is most often a verb ("Japan tightens exchange rules"),
    # except the plurals that qualify a business ("Swiss financial services group").
    r"(?:[\w&-]*[^\Ws]|electronics|services|sports|news|payments|analytics|logistics|communications)){0,2}?\s+"
    r"(?:(?:firm|company|compan(?=ies)|startup|start-up|giant|conglomerate|developer|"
    r"(?:watch|auto|car|chip|drug|toy|film|shoe|phone|game)?maker|manufacturer|brand|"
    r"site|platform|entrepreneur|billionaire|businessman|provider|manager|lender|actor|actress|rapper|singer|"
    r"musician|artist|athlete|celebrity|footballer|star|influencer|YouTuber|author|economist|club|powerhouse|"
    r"branch|subsidiary|affiliate|publisher|studio|retailer|chain|outlet|newspaper|media|operator|unicorn|"
    r"tycoon|group)(?:s|es|ies)?"
    # Singular only: "a US exchange" is a company, "Korean exchanges must verify users" is about the country.
    r"|exchange|bank|miner|arm|location|headquarters|daily)\b"
    # A war named after its places dates or explains the news ("as the Ukraine war makes gold shine"); news about
    # the war itself names its actors ("Putin", "Russian troops", "Ukraine's ministry") or its place ("in Ukraine").
    r"|(?:[-–/]\w+)?\s+(?:war|conflict|crisis)\b)"
)
_BACKDROP_BEFORE = re.compile(r"\b(?:war|conflict|crisis|tensions)\s+(?:with|between)\s+(?:the\s+)?$", re.IGNORECASE)
_ORIGIN_BEFORE = re.compile(r"(?:based|headquartered|founded|incorporated|registered)\s+in\s+(?:the\s+)?$")
# A place in a comparison is not where the news happens: "Ethereum is like New York City", "cheaper than in Japan".
# "Countries like Russia" gives examples, which are meant.
_COMPARISON_BEFORE = re.compile(
    r"(?<!countries )(?<!nations )(?<!jurisdictions )(?<!places )(?<!regions )(?<!markets )"
    r"\b(?:(?:[Ll]ike|[Uu]nlike|similar to|compared (?:to|with)|akin to)(?! to\b)(?:\s+[\w'’-]+){0,6}?"
    r"|than(?:\s+\w+)?)\s+$"
)


@dataclass(frozen=True)
class _Mention:
    jurisdiction: str | None
    role: str  # a _Kind role, or "origin" / "qualified" once read in context
    start: int
    end: int
    in_title: bool
    institution: str = ""  # the role of an institution a place qualified: "sec", "legislature" or "generic"


def _mentions(text: str, in_title: bool) -> list[_Mention]:
    return [_Mention(_KINDS[m.group(1)].jurisdiction, _KINDS[m.group(1)].role, m.start(), m.end(), in_title)
            for m in _MENTION.finditer(text)]


def _qualify(text: str, mentions: list[_Mention]) -> list[_Mention]:
    """Gives each institution the country named right next to it and drops places that only give an origin."""
    out: list[_Mention] = []
    # A place that names an institution's country is counted once, with the institution ("US court" is one
    # mention, not two).
    consumed: set[int] = set()
    for i, m in enumerate(mentions):
        if m.role == "place":
            before_text = text[max(0, m.start - 60):m.start]
            if (_ORIGIN_AFTER.match(text, m.end) or _ORIGIN_BEFORE.search(before_text)
                    or _COMPARISON_BEFORE.search(before_text) or _BACKDROP_BEFORE.search(before_text)):
                out.append(_Mention(m.jurisdiction, "origin", m.start, m.end, m.in_title))
                continue
        if m.role in ("sec", "legislature", "generic"):
            before = mentions[i - 1] if i else None
            after = mentions[i + 1] if i + 1 < len(mentions) else None
            owner = None
            if before and before.role == "place" and _QUALIFIER_BEFORE.fullmatch(text[before.end:m.start] or " "):
                owner, consumed_index = before.jurisdiction, i - 1
            elif after and after.role == "place" and _QUALIFIER_AFTER.fullmatch(text[m.end:after.start] or " "):
                owner, consumed_index = after.jurisdiction, i + 1
            if owner:
                consumed.add(consumed_index)
                # A country's securities regulator is as telling as a named one; "a US court" may be an aside.
                role = "authority" if m.role == "sec" else "qualified"
                out.append(_Mention(owner, role, m.start, m.end, m.in_title, institution=m.role))
                continue
        out.append(m)
    return [m for m in out if not any(m.start == mentions[i].start for i in consumed)]


# Benchmark articles are a headline and a lede of one or two sentences, where naming a place at all means the
# news is about it; a full article (the seed corpus, fetched pages) names places in passing ("unlike in the US"),
# so beyond this length a jurisdiction that is not in the title needs two mentions or an authority.
LONG_TEXT = 1000
MIN_MENTIONS_IN_LONG_TEXT = 2


def _evidence(title: str, text: str) -> dict[str, int]:
    """Counts, per jurisdiction, the mentions that say the article is about it."""
    mentions = _qualify(title, _mentions(title, True)) + _qualify(text, _mentions(text, False))
    named = {m.jurisdiction for m in mentions if m.jurisdiction and m.role in ("place", "authority", "qualified")}
    # "Thailand's SEC ... the SEC said": once an article names a country's SEC, its bare "SEC" is that one too.
    qualified_sec = sorted({m.jurisdiction for m in mentions if m.institution == "sec"} - {"United States"})
    counts: dict[str, int] = {}
    strong: set[str] = set()
    for m in mentions:
        owner = m.jurisdiction
        if m.role == "sec":
            owner = qualified_sec[0] if qualified_sec else "United States"
        elif m.role == "legislature":
            owner = "United States" if named <= {"United States"} else None
        elif m.role in ("generic", "none", "origin"):
            owner = None
        if owner:
            counts[owner] = counts.get(owner, 0) + 1
            if m.in_title or m.role == "authority":
                strong.add(owner)
    if len(text) > LONG_TEXT:
        counts = {j: n for j, n in counts.items() if j in strong or n >= MIN_MENTIONS_IN_LONG_TEXT}
    return counts


def detect_jurisdictions(text: str, title: str = "") -> list[str]:
    """Jurisdictions the article reports on, most mentioned first.

    A place, regulator, law or official named in the title is enough; so is one named in a short text (a lede),
    while a long article needs two mentions or an authority, so a passing comparison does not tag it.
    """
    counts = _evidence(title, text)
    return sorted(counts, key=lambda name: (-counts[name], name))


def same_place(name: str) -> list[str]:
    """The other names of the place `name` names, as news writes them ("American": "United States", "U.S.",
    "US", "America", ...; a city or state shares its country's), or none when `name` is no place known here."""
    kind = _KINDS.get(name)
    if kind is None or kind.role != "place" or kind.jurisdiction is None:
        return []
    return [other for other in _PLACE_NAMES[kind.jurisdiction] if other != name]


def known_jurisdictions() -> list[str]:
    """All jurisdictions the recogniser knows, for the UI's filter."""
    return sorted(set(_PLACES) | set(_AUTHORITIES))


if __name__ == "__main__":
    import json
    import sys
    from collections import Counter

    with open(sys.argv[1], encoding="utf-8") as fh:
        tagged = Counter(j for row in map(json.loads, fh) for j in detect_jurisdictions(row["text"], row["title"]))
    for name, count in sorted(tagged.items(), key=lambda item: (-item[1], item[0]))[:30]:
        print(f"{count:6d}  {name}")
