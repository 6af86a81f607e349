#!/usr/bin/env bash
# Starts the local services the integration tests use, if they are not running, and waits for
# their ports. Safe to run again.
set -euo pipefail

wait_port() { # host port seconds
  local host=$1 port=$2 deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "services: $host:$port did not open within $3 s" >&2
      return 1
    fi
    sleep 1
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# RabbitMQ with its STOMP and Web-STOMP plugins (relay tests, benchmark comparison).
if command -v rabbitmq-server >/dev/null 2>&1; then
  if ! port_open 5672; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached
    wait_port 127.0.0.1 5672 120
  fi
  rabbitmq-plugins enable --quiet rabbitmq_stomp rabbitmq_web_stomp >/dev/null
  wait_port 127.0.0.1 61613 120
  wait_port 127.0.0.1 15674 120
  echo "services: RabbitMQ up (AMQP 5672, STOMP 61613, Web-STOMP 15674)"
else
  echo "services: rabbitmq-server not installed; RabbitMQ tests will fail" >&2
fi

# Redis (backplane tests).
if command -v redis-server >/dev/null 2>&1; then
  if ! port_open 6379; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_port 127.0.0.1 6379 30
  fi
  echo "services: Redis up (6379)"
fi
