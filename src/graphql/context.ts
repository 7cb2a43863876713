import { randomUUID } from "node:crypto";
import type { AuditTrail } from "../audit/AuditTrail.js";
import type { ApiKeyService } from "../auth/ApiKeyService.js";
import type { Principal } from "../auth/roles.js";
import type { DatasetService } from "../datasets/DatasetService.js";
import type { CorpusService } from "../corpora/CorpusService.js";
import type { AppError } from "../errors.js";
import type { EvaluationService } from "../evaluations/EvaluationService.js";
import type { OptimizationScheduleService } from "../optimizations/OptimizationScheduleService.js";
import type { OptimizationService } from "../optimizations/OptimizationService.js";
import type { ExecutionService } from "../executions/ExecutionService.js";
import type { BatchService } from "../executions/BatchService.js";
import type { ExecuteRateLimit } from "../limits/RateLimiter.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import type { ProgramService } from "../programs/ProgramService.js";
import type { EventBus } from "../pubsub.js";
import type { FeedbackService } from "../feedback/FeedbackService.js";
import type { BudgetService } from "../budgets/BudgetService.js";
import type { ExecutionOutputService } from "../executions/ExecutionOutputStream.js";
import type { Actor, Scope } from "../scope.js";

export interface Services {
  languageModels: LanguageModelService;
  programs: ProgramService;
  datasets: DatasetService;
  executions: ExecutionService;
  batches: BatchService;
  evaluations: EvaluationService;
  optimizations: OptimizationService;
  optimizationSchedules: OptimizationScheduleService;
  corpora: CorpusService;
  apiKeys: ApiKeyService;
  /** Reads the audit trail (AuditLog writes it, inside each service's transactions). */
  audit: AuditTrail;
  events: EventBus;
  /** Spending limits per tenant and language model. */
  budgets: BudgetService;
  /** Feedback on executions, and examples made from it. */
  feedback: FeedbackService;
  /** executionOutput's subscribers. */
  outputs: ExecutionOutputService;
  /** executeProgram's per-caller token bucket (README: "Limits"). */
  executeRateLimit: ExecuteRateLimit;
}

/** What every resolver receives: who is asking, and the services that answer. */
export interface GraphQLContext {
  /** The principal's tenant; with no principal, a tenant no row belongs to (and every resolver refuses first). */
  scope: Scope;
  requestId: string;
  services: Services;
  /** Who is calling; null when the request carried no valid credentials (`authError` then says why). */
  principal: Principal | null;
  authError?: AppError;
  /** Bytes written to this subscriber's transport and not yet sent (a socket's buffer): how slow it reads. */
  unsent?: () => number;
  /** graphql-ws: sends this subscription a `next` message per payload (JSON text), now (broadcast.ts). */
  sendNext?: (payloadsJson: readonly string[]) => void;
}

/** The longest `x-request-id` kept; a longer or malformed one is replaced by a generated id. */
const MAX_REQUEST_ID = 200;

/** The request's id: the client's (gateway's) `x-request-id` when it is sane, else a new UUID. */
export function requestIdOf(header: unknown): string {
  if (typeof header === "string" && header.length > 0 && header.length <= MAX_REQUEST_ID && !/[\p{Cc}]/u.test(header)) return header;
  return randomUUID();
}

/** The one place a request's Scope is made: the principal's tenant and identity, and the request id. */
export function scopeFor(principal: Principal | null, requestId: string, noTenant: string): Scope {
  if (!principal) return { tenantId: noTenant, requestId };
  const actor: Actor = { subject: principal.subject, via: principal.via, ...(principal.apiKeyId ? { apiKeyId: principal.apiKeyId } : {}) };
  return { tenantId: principal.tenantId, actor, requestId };
}
