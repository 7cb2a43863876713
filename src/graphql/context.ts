import type { DatasetService } from "../datasets/DatasetService.js";
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
  events: EventBus;
}

/** What every resolver receives: who is asking, and the services that answer. */
export interface GraphQLContext {
  scope: Scope;
  requestId: string;
  services: Services;
}
