"""Running a course: review of manual questions, late policy, rosters, exports, class reports, similarity."""
