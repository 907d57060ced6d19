import { APP_BASE_HREF } from '@angular/common';
import { provideHttpClient, withInterceptors } from '@angular/common/http';
import { ApplicationConfig, provideBrowserGlobalErrorListeners } from '@angular/core';
import { provideRouter } from '@angular/router';
import { authInterceptor } from './auth.interceptor';
import { routes } from './app.routes';

export const appConfig: ApplicationConfig = {
  providers: [
    provideBrowserGlobalErrorListeners(),
    // Instead of <base href="/"> in index.html: the gateway's CSP has base-uri 'none'.
    { provide: APP_BASE_HREF, useValue: '/' },
    provideRouter(routes),
    provideHttpClient(withInterceptors([authInterceptor])),
    // CORS setup instead of the dev proxy: { provide: API_BASE_URL, useValue: 'http://localhost:8080' }
  ],
};
