"""`grader review`: TAs grade manual questions by rubric in a local web app; the grades are merged into the results."""
