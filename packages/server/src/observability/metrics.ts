// The Prometheus metrics of one server (GET /metrics): every metric is defined here, in a registry of its own per
// server instance (tests run several servers in one process; prom-client's global registry would refuse the second).
// The hot paths only increment counters and observe histograms, once per step, model call, tool call, run end or
// webhook attempt (never per token); the gauges are read when scraped: from memory, and the queue depths from the
// store, at most once a second.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db, Dialect } from '../store/database.ts';
import { query } from '../store/sql.ts';

/** Latency buckets (seconds) of model calls and steps: from an instant model to a long agentic turn. */
const MODEL_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];
/** Latency buckets (seconds) of tool calls: a file read to a command near its timeout. */
const TOOL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Latency buckets (seconds) of the event relay between nodes. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** How long queue depths read from the store are reused: scrapes (several Prometheus servers, a dashboard) cost one read a second. */
export const QUEUE_DEPTH_CACHE_MS = 1_000;

/** The token kinds of herm_model_tokens_total, from the AI SDK's step usage. */
export type TokenKind = 'input' | 'output' | 'cache_read' | 'cache_write' | 'reasoning';

/** How a webhook delivery attempt ended (herm_webhook_deliveries_total). */
export type WebhookOutcome = 'succeeded' | 'retrying' | 'failed' | 'lease_lost';

/** What the gauges read when scraped; each is optional (a part of the server that is not there reports nothing). */
export interface MetricsSources {
  /** Runs at work on this node. */
  activeRuns?: () => number;
  /** Open SSE streams on this node. */
  sseClients?: () => number;
  /** The store the queue depths are counted in. */
  store?: { db: Db; dialect: Dialect };
}

/**
 * The queues, counted with indexed reads: runs waiting for a node to claim them (never claimed, or their lease ran
 * out), runs queued behind their thread's active run (multitask_strategy enqueue), steering requests waiting for a
 * human, webhook deliveries not yet delivered (due or waiting for a retry).
 */
const QUEUE_DEPTHS =
  'SELECT ' +
  "(SELECT count(*) FROM runs WHERE status = 'running' AND queued = 0 AND (lease_expires_at IS NULL OR lease_expires_at < $1)) AS runs_unclaimed, " +
  "(SELECT count(*) FROM runs WHERE queued = 1 AND status = 'running') AS runs_queued, " +
  "(SELECT count(*) FROM steering_requests WHERE status = 'pending') AS steering_pending, " +
  "(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS webhook_deliveries_pending";

type QueueName = 'runs_unclaimed' | 'runs_queued' | 'steering_pending' | 'webhook_deliveries_pending';
const QUEUES: readonly QueueName[] = ['runs_unclaimed', 'runs_queued', 'steering_pending', 'webhook_deliveries_pending'];

export class HermMetrics {
  readonly registry = new Registry();

  /** Runs that ended, by final status (completed, error), error type (empty when completed) and trigger (message, automation). */
  readonly runsEnded = new Counter({
    name: 'herm_runs_total',
    help: 'Runs ended on this node, by final status, error type and trigger',
    labelNames: ['status', 'error_type', 'trigger'] as const,
    registers: [this.registry],
  });
  /** One model step of a run: the model call and the tool calls it made, until the next step (or the end) begins. */
  readonly runStepSeconds = new Histogram({
    name: 'herm_run_step_duration_seconds',
    help: 'Duration of a run step (the model call and the tool calls it made), by model',
    labelNames: ['model'] as const,
    buckets: MODEL_BUCKETS,
    registers: [this.registry],
  });
  readonly modelFirstTokenSeconds = new Histogram({
    name: 'herm_model_time_to_first_token_seconds',
    help: "Time from a model call to its first streamed output (text, reasoning or a tool call), by model",
    labelNames: ['model'] as const,
    buckets: MODEL_BUCKETS,
    registers: [this.registry],
  });
  readonly modelCallSeconds = new Histogram({
    name: 'herm_model_call_duration_seconds',
    help: 'Duration of a model call until its stream ended, by model and outcome (ok, error, cancelled)',
    labelNames: ['model', 'outcome'] as const,
    buckets: MODEL_BUCKETS,
    registers: [this.registry],
  });
  readonly modelTokens = new Counter({
    name: 'herm_model_tokens_total',
    help: "Tokens of model calls as the provider reported them, by model and kind (input, output, cache_read, cache_write, reasoning)",
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });
  readonly toolCallSeconds = new Histogram({
    name: 'herm_tool_call_duration_seconds',
    help: 'Duration of a tool call, by tool and origin (builtin, or the MCP server name)',
    labelNames: ['tool', 'origin'] as const,
    buckets: TOOL_BUCKETS,
    registers: [this.registry],
  });
  readonly sandboxCommandsActive = new Gauge({
    name: 'herm_sandbox_commands_active',
    help: 'Commands running in sandboxes on this node (run tool calls and Files API operations), by backend',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });
  readonly sandboxesActive = new Gauge({
    name: 'herm_sandboxes_active',
    help: 'Sandboxes (workspaces) with at least one command running on this node, by backend',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'herm_webhook_deliveries_total',
    help: 'Webhook delivery attempts made by this node, by outcome (succeeded, retrying, failed for good, lease_lost)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly eventRelayLagSeconds = new Histogram({
    name: 'herm_event_relay_lag_seconds',
    help: "PostgreSQL: time from another node's append of events to this node relaying them to its streams (includes clock skew between nodes)",
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  #sources: MetricsSources = {};
  #queueDepths: { at: number; values: Promise<Record<QueueName, number>> } | undefined;

  constructor() {
    const metrics = this;
    new Gauge({
      name: 'herm_runs_active',
      help: 'Runs at work on this node',
      registers: [this.registry],
      collect() {
        this.set(metrics.#sources.activeRuns?.() ?? 0);
      },
    });
    new Gauge({
      name: 'herm_sse_clients',
      help: 'Open SSE event streams on this node',
      registers: [this.registry],
      collect() {
        this.set(metrics.#sources.sseClients?.() ?? 0);
      },
    });
    new Gauge({
      name: 'herm_queue_depth',
      help: 'Items waiting, by queue: runs_unclaimed (no node holds them), runs_queued (behind their thread\'s active run), steering_pending, webhook_deliveries_pending',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      async collect() {
        // A store that cannot answer leaves the depths out of this scrape rather than failing all of it.
        const depths = await metrics.#readQueueDepths().catch(() => undefined);
        this.reset();
        if (!depths) return;
        for (const queue of QUEUES) this.set({ queue }, depths[queue]);
      },
    });
    new Gauge({
      name: 'herm_process_resident_memory_bytes',
      help: 'Resident memory of the server process',
      registers: [this.registry],
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  /** Sets what the scrape-time gauges read (the server, once its parts are built). */
  setSources(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Counts a run's end (its final status committed by this node). */
  runEnded(run: { trigger: string }, status: 'completed' | 'error', errorType?: string | undefined): void {
    this.runsEnded.inc({ status, error_type: status === 'error' ? (errorType ?? 'unknown') : '', trigger: run.trigger });
  }

  /** Adds a model step's usage (the AI SDK's LanguageModelUsage shape; undefined counts are skipped). */
  addUsage(
    model: string,
    usage: {
      inputTokens?: number | undefined;
      outputTokens?: number | undefined;
      inputTokenDetails?: { cacheReadTokens?: number | undefined; cacheWriteTokens?: number | undefined } | undefined;
      outputTokenDetails?: { reasoningTokens?: number | undefined } | undefined;
    },
  ): void {
    const add = (kind: TokenKind, count: number | undefined) => {
      if (count !== undefined && Number.isFinite(count) && count > 0) this.modelTokens.inc({ model, kind }, count);
    };
    add('input', usage.inputTokens);
    add('output', usage.outputTokens);
    add('cache_read', usage.inputTokenDetails?.cacheReadTokens);
    add('cache_write', usage.inputTokenDetails?.cacheWriteTokens);
    add('reasoning', usage.outputTokenDetails?.reasoningTokens);
  }

  #readQueueDepths(): Promise<Record<QueueName, number> | undefined> {
    const store = this.#sources.store;
    if (!store) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.#queueDepths || now - this.#queueDepths.at >= QUEUE_DEPTH_CACHE_MS) {
      const values = query<Record<QueueName, number | string>>(store.db, store.dialect, QUEUE_DEPTHS, [now]).then(([row]) => {
        const depths = {} as Record<QueueName, number>;
        for (const queue of QUEUES) depths[queue] = Number(row?.[queue] ?? 0);
        return depths;
      });
      this.#queueDepths = { at: now, values };
      // A failed read is not cached: the next scrape tries again.
      values.catch(() => {
        if (this.#queueDepths?.values === values) this.#queueDepths = undefined;
      });
    }
    return this.#queueDepths.values;
  }
}
