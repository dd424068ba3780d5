// The polyfills libp2p needs on Node 20 must be installed before anything imports libp2p.
import '@slimswarm/node-compat';
import { main } from './export.js';

process.exitCode = await main(process.argv.slice(2));
