/**
 * Imported first by every browser entry point (the tab, its workers, the dashboard): zod compiles object
 * schemas into fast parsers with `new Function`, which the coordinator's Content-Security-Policy forbids
 * (no 'unsafe-eval'). Jitless, zod parses the same way without generated code.
 */
import { z } from 'zod';

z.config({ jitless: true });
