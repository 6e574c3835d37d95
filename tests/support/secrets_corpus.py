"""Secrets as they turn up in log lines: one entry per kind and shape, for the security suite.

Each entry is ``(kind, message, secret)``: the message is an ERROR line holding the secret, and the
secret is the text that must appear in no output and no stored row. Values are made up but follow
each vendor's documented format (prefix, alphabet, length), so the rules see what they would see.
"""

from __future__ import annotations

_B62 = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY"  # 32 characters of the base-62 alphabet

CORPUS: list[tuple[str, str, str]] = [
    ("aws access key id", "Using AWS key AKIAIOSFODNN7EXAMPLE for the upload", "AKIAIOSFODNN7EXAMPLE"),
    ("aws sts key id", "assumed-role credentials ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A"),
    ("aws secret key", "boto config aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY rejected",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("email", "Login failed for alice.smith@example.com", "alice.smith@example.com"),
    ("email with tag", "bounce from ops+alerts@corp.example.co.uk while notifying", "ops+alerts@corp.example.co.uk"),
    ("password k=v", "Login rejected password=letmein for the admin console", "letmein"),
    ("password json", '{"user": "bob", "password": "correct horse battery staple", "ok": false}',
     "correct horse battery staple"),
    ("passwd colon", "db passwd: Tr0ub4dorZebra refused by the primary", "Tr0ub4dorZebra"),
    ("pwd k=v", "connect pwd=hunter2hunter host=db", "hunter2hunter"),
    ("db password env", "env DB_PASSWORD=s3cretDbPassw0rd not accepted", "s3cretDbPassw0rd"),
    ("postgres dsn", "connect postgres://svc:s3cr3tPass@db.internal:5432/app failed", "s3cr3tPass"),
    ("mysql dsn", "pool error mysql://root:rootpwSecret@10.0.0.5/orders", "rootpwSecret"),
    ("redis url", "cannot reach redis://:redisAuthSecret@cache.internal:6379/0", "redisAuthSecret"),
    ("bearer token", "upstream 401 Authorization: Bearer abcdefSECRETtokenvalue", "abcdefSECRETtokenvalue"),
    ("basic auth", "proxy sent Authorization: Basic YWxpY2U6c2VjcmV0cGFzcw==", "YWxpY2U6c2VjcmV0cGFzcw"),
    ("jwt", "token rejected eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("github pat classic", f"git clone with ghp_{_B62}ABCD failed", f"ghp_{_B62}ABCD"),
    ("github oauth", f"oauth gho_{_B62}WXYZ revoked", f"gho_{_B62}WXYZ"),
    ("github fine-grained", "push with github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF denied",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF"),
    ("gitlab pat", "registry login glpat-xY7zQ2wE9rT4uI1oP3aS failed", "glpat-xY7zQ2wE9rT4uI1oP3aS"),
    ("slack bot token", "slack api xoxb-2048-4096-AbCdEfGhIjKlMnOpQrStUvWx invalid_auth",
     "xoxb-2048-4096-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack user token", "slack xoxp-1111-2222-3333-abcdefabcdefabcdef revoked", "xoxp-1111-2222-3333-abcdefabcdefabcdef"),
    ("slack webhook", "notify failed https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretWebhookPath",
     "XyZsecretWebhookPath"),
    ("discord webhook", "POST https://discord.com/api/webhooks/123456789/DiscordWebhookSecretToken returned 429",
     "DiscordWebhookSecretToken"),
    ("teams webhook", "teams https://contoso.webhook.office.com/webhookb2/a1@b2/IncomingWebhook/TeamsHookSecret/c3 down",
     "TeamsHookSecret"),
    ("stripe secret key", f"charge failed with sk_live_{_B62[:24]}", f"sk_live_{_B62[:24]}"),
    ("stripe restricted key", f"refund failed with rk_live_{_B62[:24]}", f"rk_live_{_B62[:24]}"),
    ("stripe webhook secret", f"signature check whsec_{_B62} mismatch", f"whsec_{_B62}"),
    ("google api key", "maps quota AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tUvW exceeded", "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tUvW"),
    ("openai key", f"completion failed for sk-proj-{_B62}{_B62[:8]}", f"sk-proj-{_B62}{_B62[:8]}"),
    ("anthropic key", f"messages api 401 sk-ant-api03-{_B62}", f"sk-ant-api03-{_B62}"),
    ("hugging face token", f"hub download hf_{_B62[:30]} forbidden", f"hf_{_B62[:30]}"),
    ("npm token", f"npm publish npm_{_B62}ABCD unauthorized", f"npm_{_B62}ABCD"),
    ("pypi token", f"twine upload pypi-AgEIcHlwaS5vcmc{_B62} rejected", f"pypi-AgEIcHlwaS5vcmc{_B62}"),
    ("sendgrid key", f"mail send SG.{_B62[:22]}.{_B62}abc forbidden", f"SG.{_B62[:22]}.{_B62}abc"),
    ("shopify token", "shop api shpat_0123456789abcdef0123456789abcdef expired", "shpat_0123456789abcdef0123456789abcdef"),
    ("digitalocean token", "doctl dop_v1_" + "a1b2c3d4" * 8 + " denied", "dop_v1_" + "a1b2c3d4" * 8),
    ("vault token", f"vault read hvs.{_B62} permission denied", f"hvs.{_B62}"),
    ("twilio api key", "twilio SK0123456789abcdef0123456789abcdef rejected", "SK0123456789abcdef0123456789abcdef"),
    ("mailgun key", "mailgun key-0123456789abcdef0123456789abcdef invalid", "key-0123456789abcdef0123456789abcdef"),
    ("rsa private key", "loaded -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretRsaBodyLine\n"
     "-----END RSA PRIVATE KEY----- from env", "MIIEowIBAAKCAQEAsecretRsaBodyLine"),
    ("openssh private key", "ssh key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAsecretOpenssh\n"
     "-----END OPENSSH PRIVATE KEY----- rejected", "b3BlbnNzaC1rZXktdjEAsecretOpenssh"),
    ("api key json", 'config {"api_key": "live9Kq2ApiKeyValue", "region": "eu"} invalid', "live9Kq2ApiKeyValue"),
    ("client secret", "oauth client_secret=OauthClientSecretValue rejected", "OauthClientSecretValue"),
    ("access token in query", "callback failed ?code=x&access_token=ya29AccessTokenValue&state=1",
     "ya29AccessTokenValue"),
    ("x-api-key header", "header x-api-key: XApiKeyHeaderValue9 missing scope", "XApiKeyHeaderValue9"),
    ("session cookie", "Cookie: sessionid=SessionCookieSecretValue; theme=dark expired", "SessionCookieSecretValue"),
    ("aws presigned signature", "GET failed X-Amz-Signature=AmzSignatureSecretValue0123 expired",
     "AmzSignatureSecretValue0123"),
    ("azure account key", "storage AccountKey=AzureAccountKeyValue0123==;EndpointSuffix=core.windows.net",
     "AzureAccountKeyValue0123"),
    ("ipv4 address", "client 203.0.113.77 rejected by the WAF", "203.0.113.77"),
    ("ipv6 address", "client 2001:db8:85a3::8a2e:370:7334 rejected by the WAF", "2001:db8:85a3::8a2e:370:7334"),
    ("card number", "charged card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
]

SERVICE_SECRET = "carol.jones@example.org"
"""A service name taken from a record that is itself personal data (an email): a metric dimension."""
