"""Reports over the journal: the JSON document, the HTML page, the end-of-run summary."""
