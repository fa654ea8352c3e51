"""`signoff`: the command-line client CI jobs use to talk to a Signoff server over its HTTP API.

Deliberately free of Django and of any project module, so it installs and runs anywhere urllib3 does.
"""
