/** Pieces the routes' OpenAPI definitions share. */
import { z } from "zod";
import { apiErrorSchema } from "../../../core/schemas/api";

/** An error answer: the API's one error body. */
export const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: apiErrorSchema } },
});

/** Raw bytes (an image, a PNG result), as OpenAPI describes them. */
export const binarySchema = z.string().meta({ format: "binary" });
