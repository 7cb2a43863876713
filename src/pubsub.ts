import { createPubSub } from "@graphql-yoga/subscription";
import type { PubSub } from "type-graphql";

/**
 * Subscriptions read events through this interface (type-graphql's PubSub). In-process now;
 * a cross-instance implementation (e.g. Redis) can replace it without touching resolvers.
 */
export type EventBus = PubSub;

export function createInProcessEventBus(): EventBus {
  return createPubSub();
}
