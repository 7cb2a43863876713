import { DatasetResolver } from "./DatasetResolver.js";
import { LanguageModelResolver } from "./LanguageModelResolver.js";
import { ProgramChangedResolver } from "./ProgramChangedResolver.js";
import { ProgramResolver } from "./ProgramResolver.js";
import { ProgramVersionResolver } from "./ProgramVersionResolver.js";

export const RESOLVERS = [LanguageModelResolver, ProgramResolver, ProgramVersionResolver, ProgramChangedResolver, DatasetResolver] as const;
