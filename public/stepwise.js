// filled by WebAuthn pages
