# The chatbot app image. CPU torch by default; a CUDA base image and wheel work the same way.
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1

# torch first and alone, from the CPU wheel index, so nothing later pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml constraints.txt README.md ./
COPY chatbot ./chatbot
RUN pip install -c constraints.txt .

EXPOSE 8000
# Migrate, load the sample knowledge base into an empty database, serve.
CMD ["sh", "-c", "chatbot db upgrade && chatbot import-faq chatbot/sample/knowledge_base.jsonl --if-empty && chatbot serve --host 0.0.0.0 --port 8000"]
