"""Performance figures for Notejam (`make bench`): printed for people, never asserted."""
