"""The master web UI's static files (HTML, JavaScript, CSS), served by ``deploy.http_api``."""
