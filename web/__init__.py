"""The browser surfaces: server-rendered patient pages (book, manage, unsubscribe)."""
