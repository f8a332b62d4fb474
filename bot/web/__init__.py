"""The web front end: the application factory, the participant pages and the dashboard."""
