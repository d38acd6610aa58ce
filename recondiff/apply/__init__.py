"""Executing an approved plan against an LDAP directory (``recondiff apply``)."""
