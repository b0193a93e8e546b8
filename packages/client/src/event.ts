/**
 * Events as the events API takes them, and their preparation before the first send:
 * checked (so an event that can never be accepted fails at once, without a request) and
 * given an id (so every retry of it is recognisably the same event).
 */
import { EventValidationError } from './errors.js';

/** An event for `POST /api/v1/events`: a `name`, an optional `id`, and any other JSON properties. */
export interface TrackEvent {
  /** What happened, 1 to 200 characters. */
  readonly name: string;
  /** Unique id; the server stores an event once per id. Assigned by the client when absent. */
  readonly id?: string;
  readonly [property: string]: unknown;
}

/** An event after preparation: it has its id for good. */
export type IdentifiedEvent = TrackEvent & { readonly id: string };

/**
 * Checks an event before sending; returns a message saying what is wrong, or `undefined`
 * when it may be sent.
 */
export type EventValidator = (event: Readonly<Record<string, unknown>>) => string | undefined;

/** Longest event name the events API accepts, in characters. */
const MAX_NAME_LENGTH = 200;

/** The events API's own rule: a `name` of 1 to 200 characters. */
export const defaultEventValidator: EventValidator = (event) => {
  const { name } = event;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    return `Expected \`name\` to be a string of 1 to ${MAX_NAME_LENGTH} characters, got ${describe(name)}.`;
  }
  return undefined;
};

function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

/**
 * The event to send for `value`: the same object when it already has an id, else a copy
 * with a new one (the caller's object is never mutated). Throws an EventValidationError
 * when `value` is not an object, has an `id` that is not a non-empty string, or fails
 * `validate`.
 */
export function prepareEvent(value: unknown, validate: EventValidator, generateId: () => string): IdentifiedEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EventValidationError(
      `Expected an event object with a \`name\`, got ${Array.isArray(value) ? 'an array' : describe(value)}.`,
    );
  }
  const event = value as Record<string, unknown>;
  const problem = validate(event);
  if (problem !== undefined) throw new EventValidationError(problem);
  const { id } = event;
  if (id === undefined) return { ...event, id: generateId() } as IdentifiedEvent;
  if (typeof id !== 'string' || id.length === 0) {
    throw new EventValidationError(`Expected \`id\` to be a non-empty string when present, got ${describe(id)}.`);
  }
  return event as IdentifiedEvent;
}
