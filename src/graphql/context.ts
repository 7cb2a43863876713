import type { ApiKeyService } from "../auth/ApiKeyService.js";
import type { Principal } from "../auth/roles.js";
import type { DatasetService } from "../datasets/DatasetService.js";
import type { AppError } from "../errors.js";
import type { ExecutionService } from "../executions/ExecutionService.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import type { ProgramService } from "../programs/ProgramService.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";

export interface Services {
  languageModels: LanguageModelService;
  programs: ProgramService;
  datasets: DatasetService;
  executions: ExecutionService;
  apiKeys: ApiKeyService;
  events: EventBus;
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
}
