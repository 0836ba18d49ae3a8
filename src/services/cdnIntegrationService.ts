/** The seed's entry point for CDN integration; the domain lives in `./cdn/`. */
export * from './cdn/service.js';
