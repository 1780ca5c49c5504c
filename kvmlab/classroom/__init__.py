"""The instructor's half: rosters, class-wide lab commands, signed grades, reports."""
