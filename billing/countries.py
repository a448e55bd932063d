"""Countries a customer may be billed in, and which of them are in the EU (for VAT)."""

EU_COUNTRIES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GR": "Greece",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "NL": "Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
}
OTHER_COUNTRIES = {
    "AU": "Australia",
    "CA": "Canada",
    "CH": "Switzerland",
    "GB": "United Kingdom",
    "JP": "Japan",
    "MA": "Morocco",
    "NO": "Norway",
    "SG": "Singapore",
    "TN": "Tunisia",
    "US": "United States",
}
COUNTRY_CHOICES = sorted({**EU_COUNTRIES, **OTHER_COUNTRIES}.items(), key=lambda item: item[1])

# Our seller is established in France: French customers always pay French VAT.
SELLER_COUNTRY = "FR"


def country_is_eu(code: str) -> bool:
    return code in EU_COUNTRIES
