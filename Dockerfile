FROM python:3.11-slim
WORKDIR /srv/twinscope
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TWINSCOPE_CACHE_DIR=/data/cache TWINSCOPE_DATA_DIR=/data/data
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
VOLUME ["/data"]
EXPOSE 8050
# Workers share the key generated once in /data/cache/secret_key; or set -e TWINSCOPE_SECRET_KEY=...
CMD ["gunicorn", "-w", "2", "-b", "0.0.0.0:8050", "--timeout", "120", "app:server"]
