"""Per-product consent (Product, ConsentText, Consent, ConsentEvent) arrives with issue 3."""
