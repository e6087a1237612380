// Names for the API's schemas as the app uses them, all from the generated schema.d.ts.
import type { components } from "./schema";

type Schemas = components["schemas"];

/** The JSON body of every error response (codes kept as strings: the app also meets codes it does not know). */
export interface ApiErrorBody {
  code: string;
  message: string;
}

/** A signed-in user. */
export type User = Schemas["UserView"];
/** What register, login and refresh answer. */
export type Session = Schemas["Session"];
/** A read-only link to one video. */
export type Share = Schemas["Share"];
/** A read-only link as listed: without its token. */
export type ShareView = Schemas["ShareView"];
/** Which notifications the user wants. */
export type NotificationPreferences = Schemas["NotificationPreferences"];
/** A webhook endpoint; its secret only in the answer to its creation. */
export type Webhook = Schemas["Webhook"] & { secret?: string };
/** One notification to a webhook or to an upload's callback URL, and its tries. */
export type Delivery = Schemas["Delivery"];
/** A delivery log: a webhook's, or the callbacks' of the user's uploads (the latest 50, newest first). */
export type DeliveryList = Schemas["DeliveryList"];
/** Whether the user has a callback signing secret, and since when (never the secret itself). */
export type CallbackSecret = Schemas["CallbackSecret"];
/** One extracted image of a completed video, as its archive's manifest lists it. */
export type Frame = Schemas["Frame"];
/** A page of a video's frames. */
export type FramePage = Schemas["FramePage"];
