"""Tests of events: agenda, invitations, answers and their mails."""
