# MedCampaign production image: the app and its runtime dependencies only (requirements.txt).
# The embedded SecantusDB (GPL-2.0, dev/test only) and the dev tools are deliberately not installed.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# An unprivileged user to run the service; the code stays root-owned, so the process cannot modify it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

# Dependencies first, so code changes do not invalidate this layer.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

USER app

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=4)"]

# --proxy-headers trusts X-Forwarded-* only from FORWARDED_ALLOW_IPS (uvicorn default 127.0.0.1):
# set it to your reverse proxy's address so client IPs (rate limits, audit log) are the real ones.
CMD ["uvicorn", "main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
