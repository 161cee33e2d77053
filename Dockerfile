# The chatbot image: the web app (`chatbot serve`), the training worker (`chatbot worker`) and the
# one-shot migration (`chatbot db upgrade`) all run from it (see docker-compose.yml).
# CPU torch by default; TORCH_INDEX_URL picks a CUDA build instead (the compose file's worker-gpu).
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 CHATBOT_DATA_DIR=/data

# torch first and alone, from the chosen wheel index, so nothing later pulls another build.
RUN pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL"

COPY pyproject.toml constraints.txt README.md ./
COPY chatbot ./chatbot
RUN pip install -c constraints.txt . && useradd --uid 10001 --create-home chatbot \
    && mkdir -p /data && chown chatbot /data
USER chatbot

EXPOSE 8000
# Alone (docker run): migrate, load the sample knowledge base into an empty database, serve.
# docker-compose.yml runs each step as a service of its own instead.
CMD ["sh", "-c", "chatbot db upgrade && chatbot import-faq chatbot/sample/knowledge_base.jsonl --if-empty && chatbot serve --host 0.0.0.0 --port 8000"]
